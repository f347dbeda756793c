package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
)

// CookieName is the console's session cookie.
const CookieName = "labelreset_session"

// sessions keeps console sessions in Redis, so that every replica of serve
// knows them and a restart signs nobody out.
type sessions struct {
	rdb redis.UniversalClient
	ns  string
	ttl time.Duration
}

func newSessions(s *jobs.Store, ttl time.Duration) *sessions {
	return &sessions{rdb: s.Redis(), ns: s.Namespace(), ttl: ttl}
}

func (ss *sessions) key(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return jobs.SessionKey(ss.ns, hex.EncodeToString(sum[:]))
}

// create stores a session for id and returns its cookie value.
func (ss *sessions) create(ctx context.Context, id *Identity) (string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	cookie := base64.RawURLEncoding.EncodeToString(b)
	k := ss.key(cookie)
	_, err := ss.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "ref", id.Ref, "name", id.Name, "created", time.Now().UnixMilli())
		p.PExpire(ctx, k, ss.ttl)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store console session: %w", err)
	}
	return cookie, nil
}

// ref returns the token reference of the session of cookie, "" when there
// is none (never created, expired or signed out).
func (ss *sessions) ref(ctx context.Context, cookie string) (string, error) {
	if cookie == "" || len(cookie) > 128 {
		return "", nil
	}
	ref, err := ss.rdb.HGet(ctx, ss.key(cookie), "ref").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load console session: %w", err)
	}
	return ref, nil
}

func (ss *sessions) remove(ctx context.Context, cookie string) error {
	if cookie == "" {
		return nil
	}
	if err := ss.rdb.Del(ctx, ss.key(cookie)).Err(); err != nil {
		return fmt.Errorf("remove console session: %w", err)
	}
	return nil
}

func (c *Console) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: "/ui/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.cfg.Secure, SameSite: http.SameSiteStrictMode})
}

func sessionCookie(r *http.Request) string {
	if ck, err := r.Cookie(CookieName); err == nil {
		return ck.Value
	}
	return ""
}

// identity returns who r acts for, nil when it has no valid session.
func (c *Console) identity(r *http.Request) (*Identity, error) {
	if c.cfg.NoAuth {
		id, _ := c.backend.Lookup("")
		return id, nil
	}
	ref, err := c.sessions.ref(r.Context(), sessionCookie(r))
	if err != nil || ref == "" {
		return nil, err
	}
	id, ok := c.backend.Lookup(ref)
	if !ok {
		// The token left the token file: the session ends with it.
		_ = c.sessions.remove(r.Context(), sessionCookie(r))
		return nil, nil
	}
	return id, nil
}

// signedIn runs h for requests with a valid session. Others go to the sign-in
// page (a GET of a page) or get 401 (a POST, a stream, a fragment).
func (c *Console) signedIn(h func(http.ResponseWriter, *http.Request, *Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := c.identity(r)
		if err != nil {
			c.log.Error("console session", "err", err)
			c.renderError(w, r, nil, http.StatusServiceUnavailable, "The console cannot read its sessions now; try again shortly.")
			return
		}
		if id == nil {
			if r.Method == http.MethodGet && r.URL.Query().Get("fragment") == "" && !strings.HasSuffix(r.URL.Path, "/live") {
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.renderError(w, r, nil, http.StatusUnauthorized, "Your session has ended: sign in again.")
			return
		}
		h(w, r, id)
	}
}

// safeNext is the page to go to after sign-in: a path of the console, never
// another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.cfg.NoAuth {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login", &page{Title: "Sign in", Data: loginData{Next: safeNext(r.URL.Query().Get("next"))}})
}

type loginData struct{ Next string }

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.render(w, r, http.StatusBadRequest, "login", &page{Title: "Sign in", Error: "The form could not be read."})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	id, ok := c.backend.Login(strings.TrimSpace(r.PostForm.Get("token")))
	if !ok {
		c.log.Info("console sign-in refused", "remote", r.RemoteAddr)
		c.render(w, r, http.StatusUnauthorized, "login", &page{Title: "Sign in", Error: "That token is not valid.",
			Data: loginData{Next: next}})
		return
	}
	// A new sign-in never continues an old session (a cookie planted
	// before it, or another token's).
	if err := c.sessions.remove(r.Context(), sessionCookie(r)); err != nil {
		c.log.Warn("console sign-in: old session", "err", err)
	}
	cookie, err := c.sessions.create(r.Context(), id)
	if err != nil {
		c.log.Error("console sign-in", "err", err)
		c.render(w, r, http.StatusServiceUnavailable, "login", &page{Title: "Sign in",
			Error: "The console cannot store sessions now; try again shortly.", Data: loginData{Next: next}})
		return
	}
	c.log.Info("console sign-in", "token", id.Name)
	c.setCookie(w, cookie, int(c.cfg.SessionTTL/time.Second))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if err := c.sessions.remove(r.Context(), sessionCookie(r)); err != nil {
		c.log.Error("console sign-out", "err", err)
	}
	c.setCookie(w, "", -1)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}
