package jobs

// SetJanitorRead installs a function the janitor runs between its read of
// an expired campaign and its decision to delete it (a test-only seam for
// interleaving an append or a retry there).
func (s *Store) SetJanitorRead(f func(id string)) { s.janitorRead = f }

// SetDeleteMarked installs a function a delete runs once the campaign is
// marked as being deleted, before its keys go.
func (s *Store) SetDeleteMarked(f func(id string)) { s.deleteMarked = f }
