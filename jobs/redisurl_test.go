package jobs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

func TestParseRedisURLForms(t *testing.T) {
	type got struct {
		Addrs                              []string
		User, Password, SentinelPW, Master string
		DB                                 int
		Cluster, TLS                       bool
		ServerName                         string
		DialTimeout                        time.Duration
		PoolSize                           int
	}
	for _, tc := range []struct {
		name, url string
		want      got
	}{
		{"standalone", "redis://u:s3cret@h:1/2?dial_timeout=3s",
			got{Addrs: []string{"h:1"}, User: "u", Password: "s3cret", DB: 2, DialTimeout: 3 * time.Second}},
		{"standalone TLS", "rediss://h:1",
			got{Addrs: []string{"h:1"}, TLS: true, ServerName: "h"}},
		{"sentinel", "redis-sentinel://:s3cret@h1:26379,h2:26380/mymaster/2",
			got{Addrs: []string{"h1:26379", "h2:26380"}, Password: "s3cret", SentinelPW: "s3cret", Master: "mymaster", DB: 2}},
		{"sentinel default port, options", "redis-sentinel://h1/m?pool_size=5",
			got{Addrs: []string{"h1:26379"}, Master: "m", PoolSize: 5}},
		{"sentinel TLS", "rediss-sentinel://u:s3cret@h1,h2:1/m",
			got{Addrs: []string{"h1:26379", "h2:1"}, User: "u", Password: "s3cret", SentinelPW: "s3cret", Master: "m", TLS: true}},
		{"cluster", "redis-cluster://a:1,b:2",
			got{Addrs: []string{"a:1", "b:2"}, Cluster: true}},
		{"cluster default port, db 0", "redis-cluster://a,b/0?dial_timeout=1s",
			got{Addrs: []string{"a:6379", "b:6379"}, Cluster: true, DialTimeout: time.Second}},
		{"cluster TLS", "rediss-cluster://:s3cret@a:1,b:2",
			got{Addrs: []string{"a:1", "b:2"}, Password: "s3cret", Cluster: true, TLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseRedisURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			g := got{Addrs: o.Addrs, User: o.Username, Password: o.Password, SentinelPW: o.SentinelPassword,
				Master: o.MasterName, DB: o.DB, Cluster: o.IsClusterMode, TLS: o.TLSConfig != nil,
				DialTimeout: o.DialTimeout, PoolSize: o.PoolSize}
			if o.TLSConfig != nil {
				g.ServerName = o.TLSConfig.ServerName
			}
			if d := cmp.Diff(tc.want, g); d != "" {
				t.Errorf("%s (-want +got):\n%s", tc.url, d)
			}
		})
	}
}

// TestParseRedisURLHidesPassword: whatever is wrong with a URL, the error
// names the URL with its password as xxxxx.
func TestParseRedisURLHidesPassword(t *testing.T) {
	for _, bad := range []string{
		"http://u:s3cret@x",
		"redis-sentinel://:s3cret@h1",
		"redis-sentinel://:s3cret@h1/m/x",
		"redis-sentinel://:s3cret@h1/m/1/2",
		"redis://:s3cret@h1:1/notadb",
		"redis://:s3cret@h1:1?bogus=1",
		"redis://:s3cret@h1:1?dial_timeout=soon",
		"redis://h1:1?password=s3cret",
		"redis-sentinel://h1/m?sentinel_password=s3cret",
		"rediss-cluster://:s3cret@a:1,b:2/5",
		"redis-cluster://:s3cret@a:1?addr=nonsense",
		"redis-cluster://:s3cret@a:1,b:x",
		"redis-cluster://:s3cret@a:1,,b:2",
		"redis-sentinel://:s3cret@/m",
		"redis-sentinel://:s3cret@h1/m?replica_only=true",
		"redis://:s3cret@h1:1/0\x7f",
	} {
		_, err := ParseRedisURL(bad)
		if err == nil {
			t.Errorf("%q parsed", bad)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: error shows the password: %v", bad, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://u:s3cret@h:1/0":               "redis://u:xxxxx@h:1/0",
		"redis-cluster://:s3cret@a:1,b:2":      "redis-cluster://:xxxxx@a:1,b:2",
		"redis://h:1?password=s3cret":          "redis://h:1?password=xxxxx",
		"redis://h:1?Sentinel_Password=s3cret": "redis://h:1?Sentinel_Password=xxxxx",
		"redis://h:1?dial_timeout=1s":          "redis://h:1?dial_timeout=1s",
		"redis://:s3cret@h:1/0\x7f":            "(unparsable URL)",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRedisURLTLSHandshake connects rediss:// and rediss-cluster:// URLs
// to a TLS Redis whose certificate names 127.0.0.1 only: the handshake
// verifies it against the address each node is dialled at.
func TestRedisURLTLSHandshake(t *testing.T) {
	cert, pool := selfSignedCert(t)
	mr, err := miniredis.RunTLS(&tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	_, port, _ := net.SplitHostPort(mr.Addr())
	ping := func(raw string, roots *x509.CertPool) error {
		o, err := ParseRedisURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if o.TLSConfig != nil {
			o.TLSConfig.RootCAs = roots
		}
		o.MaxRetries = -1
		rdb := redis.NewUniversalClient(o)
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return rdb.Ping(ctx).Err()
	}
	for _, raw := range []string{"rediss://127.0.0.1:" + port, "rediss-cluster://127.0.0.1:" + port} {
		if err := ping(raw, pool); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
		if err := ping(raw, nil); err == nil {
			t.Errorf("%s: an unknown certificate was accepted", raw)
		}
	}
	// The first host's name is not the server name of every node: the
	// certificate does not name localhost, and the node at 127.0.0.1
	// must still be verified against its own address.
	if err := ping("rediss-cluster://localhost:"+port+",127.0.0.1:"+port, pool); err != nil {
		t.Errorf("cluster seeded by a host the certificate does not name: %v", err)
	}
	if err := ping("redis-cluster://127.0.0.1:"+port, nil); err == nil {
		t.Errorf("redis-cluster:// (no TLS) talked to a TLS server")
	}
}

func selfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "labelreset test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
