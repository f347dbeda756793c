//go:build soak

package main

// soak selects the full sizes of the scale cases (.ci/run builds with
// -tags soak); without it they run at sizes that prove the same
// properties in a fraction of the time.
const soak = true
