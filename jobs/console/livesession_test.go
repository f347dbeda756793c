package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

// A live stream is the session's like every page: it ends when the
// session does (signed out, the token removed from the token file, or
// its teams narrowed to exclude the campaign), not when the campaign
// ends days later.
func TestLiveStreamEndsWithItsSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(u *ui, c interface{ signOut() })
		// at once: no event after the end; else the stream ends within
		// the console's session check (ten poll intervals here).
		atOnce bool
	}{
		{"signed out", func(u *ui, c interface{ signOut() }) { c.signOut() }, false},
		{"token removed", func(u *ui, _ interface{ signOut() }) {
			u.rewriteTokens(strings.Replace(tokenFile, "    token: "+viewerToken+"\n", "    token: viewer-token-replaced-0123456789\n", 1))
		}, true},
		{"team narrowed", func(u *ui, _ interface{ signOut() }) {
			u.rewriteTokens(strings.Replace(tokenFile, "roles: [viewer]\n    teams: [team-a]", "roles: [viewer]\n    teams: [team-z]", 1))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, _ := serveUI(t, func(c *httpapi.Config) { c.Console.PollInterval = 50 * time.Millisecond })
			id := u.create(operatorToken, map[string]any{"campaign_id": "watched", "team_id": "team-a", "asset_ids": ids(1, 10)})
			c := u.signIn(viewerToken)
			s := u.watch(c, id)
			if ev := s.next(t); ev.data["state"] != "running" {
				t.Fatalf("first event %v", ev.data)
			}
			tc.end(u, signOuter{u, c})
			u.record(id, jobs.OutcomeReset, 1)
			deadline := time.After(10 * time.Second)
			for {
				select {
				case ev := <-s.events:
					if tc.atOnce && ev.data["finished"] == float64(1) {
						t.Fatalf("the stream showed the campaign's new counts after its session ended: %v", ev.data)
					}
					continue
				case <-s.done:
				case <-deadline:
					t.Fatal("the stream outlived its session by 10s")
				}
				break
			}
			s.body.Close()
		})
	}
}

type signOuter struct {
	u *ui
	c *http.Client
}

func (s signOuter) signOut() {
	s.u.t.Helper()
	if res := s.u.post(s.c, "/ui/logout", url.Values{}); res.status != http.StatusSeeOther {
		s.u.t.Fatalf("sign out: %d", res.status)
	}
}

// rewriteTokens replaces the token file and reloads it.
func (u *ui) rewriteTokens(content string) {
	u.t.Helper()
	if err := os.WriteFile(u.tokenPath, []byte(content), 0o600); err != nil {
		u.t.Fatal(err)
	}
	if err := u.api.ReloadTokens(); err != nil {
		u.t.Fatal(err)
	}
}

// Campaign IDs are one namespace across teams: a campaign deleted and
// created again under its ID by another team is another team's campaign,
// and a stream opened on the first never shows the second.
func TestLiveStreamNeverShowsAnotherTeamsCampaignUnderItsID(t *testing.T) {
	u, _ := serveUI(t, func(c *httpapi.Config) { c.Console.PollInterval = 2 * time.Second })
	id := u.create(operatorToken, map[string]any{"campaign_id": "reused", "team_id": "team-a", "asset_ids": ids(1, 10)})
	s := u.watch(u.signIn(viewerToken), id)
	if ev := s.next(t); ev.data["state"] != "running" || ev.data["total"] != float64(10) {
		t.Fatalf("first event %v", ev.data)
	}
	// Within one poll interval: the poller reads the ID next after both.
	if err := u.store.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	u.create(otherToken, map[string]any{"campaign_id": id, "team_id": "team-b", "asset_ids": ids(1, 7)})
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-s.events:
			if ev.name == "progress" && ev.data["total"] == float64(7) {
				t.Fatalf("team-a's stream showed team-b's campaign: %v", ev.data)
			}
			continue
		case <-s.done:
		case <-deadline:
			t.Fatal("the stream went on 10s after its campaign was deleted")
		}
		break
	}
	s.body.Close()
}

// The poller of a campaign ID keeps the snapshot it read while that is
// complete; a campaign created again under the ID (by another team) has
// a snapshot of its own, and its watchers never get the first one's
// (its labels).
func TestLiveStreamOfARecreatedCampaignHasItsOwnSnapshot(t *testing.T) {
	u, _ := serveUI(t, func(c *httpapi.Config) { c.Console.PollInterval = 2 * time.Second })
	id := u.create(operatorToken, map[string]any{"campaign_id": "reused", "team_id": "team-a", "asset_ids": ids(1, 10)})
	u.takeSnapshot(id, map[int64][]string{1: {"team-a-secret-label"}})
	// An all-teams watcher keeps the campaign's poller going.
	a := u.watch(u.signIn(approverToken), id)
	if ev := a.next(t); ev.data["snapshot"].(map[string]any)["complete"] != true {
		t.Fatalf("first event %v", ev.data)
	}
	// Within one poll interval, so the poller goes on.
	if err := u.store.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	u.create(otherToken, map[string]any{"campaign_id": id, "team_id": "team-b", "asset_ids": ids(1, 7)})
	b := u.watch(u.signIn(otherToken), id)
	for {
		ev := b.next(t)
		if ev.name != "progress" {
			continue
		}
		snap, _ := json.Marshal(ev.data["snapshot"])
		if strings.Contains(string(snap), "team-a-secret-label") || ev.data["snapshot"].(map[string]any)["complete"] == true {
			t.Fatalf("team-b's stream shows team-a's snapshot: %s", snap)
		}
		break
	}
	b.body.Close()
	a.body.Close()
}
