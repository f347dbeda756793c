package client_test

import (
	"context"
	"fmt"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
)

// Remove all labels of two assets and list what still carries a label.
func Example() {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: "example-key", Assets: 3})
	defer srv.Close()

	c, err := client.New(client.Config{APIKey: "example-key", Server: srv.URL()})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, id := range []int64{2, 42} {
		res := c.DeleteLabels(ctx, id)
		if res.Outcome == client.OutcomeReset {
			fmt.Printf("asset %d: labels removed\n", id)
			continue
		}
		fmt.Printf("asset %d: %v, %s\n", id, res.Outcome, res.Error())
	}
	for a, err := range c.ListAssets(ctx, client.AssetFilter{}, 100) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("asset %d has %d labels\n", a.ID, len(a.Labels))
	}
	// Output:
	// asset 2: labels removed
	// asset 42: not_found, HTTP 404 NOT_FOUND: Asset not found
	// asset 1 has 3 labels
	// asset 2 has 0 labels
	// asset 3 has 3 labels
}

// ResolveConfig merges flags, environment and ~/.pdcp/credentials.yaml.
func ExampleResolveConfig() {
	env := map[string]string{"PDCP_API_KEY": "from-env"}
	cfg, err := client.ResolveConfig(client.Config{TeamID: "from-flag"}, func(k string) string { return env[k] }, "")
	fmt.Println(cfg, err)
	// Output: client.Config{Server: https://api.projectdiscovery.io, TeamID: from-flag, APIKey: set} <nil>
}
