package resolver

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestParseResolvConf pins which nameserver lines become upstreams.
func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want []string
	}{
		{name: "empty", conf: "", want: nil},
		{name: "one", conf: "nameserver 192.0.2.1\n", want: []string{"192.0.2.1:53"}},
		{name: "no final newline", conf: "nameserver 192.0.2.1", want: []string{"192.0.2.1:53"}},
		{name: "IPv6", conf: "nameserver 2001:db8::1\n", want: []string{"[2001:db8::1]:53"}},
		{name: "IPv6 with zone", conf: "nameserver fe80::1%eth0\n", want: []string{"[fe80::1%eth0]:53"}},
		{name: "IPv4-mapped", conf: "nameserver ::ffff:192.0.2.1\n", want: []string{"192.0.2.1:53"}},
		{name: "at most three", conf: "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n",
			want: []string{"192.0.2.1:53", "192.0.2.2:53", "192.0.2.3:53"}},
		{name: "skips itself", conf: "nameserver 127.0.0.11\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n",
			want: []string{"192.0.2.1:53", "192.0.2.2:53", "192.0.2.3:53"}},
		{name: "skips itself mapped", conf: "nameserver ::ffff:127.0.0.11\n", want: nil},
		{name: "other loopback kept", conf: "nameserver 127.0.0.53\n", want: []string{"127.0.0.53:53"}},
		{name: "comments", conf: "# nameserver 192.0.2.9\n; nameserver 192.0.2.8\nnameserver 192.0.2.1 # primary\nnameserver 192.0.2.2;x\n",
			want: []string{"192.0.2.1:53", "192.0.2.2:53"}},
		{name: "other lines", conf: "search example.com\noptions ndots:5 timeout:1\ndomain example.com\nsortlist 10.0.0.0\n", want: nil},
		{name: "not addresses", conf: "nameserver\nnameserver dns.example.com\nnameserver 192.0.2.300\nnameserver 192.0.2.1:53\n", want: nil},
		{name: "whitespace and CRLF", conf: "  nameserver\t192.0.2.1  \r\n\r\nnameserver 192.0.2.2\r\n", want: []string{"192.0.2.1:53", "192.0.2.2:53"}},
		{name: "keyword case-sensitive", conf: "Nameserver 192.0.2.1\n", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, a := range parseResolvConf([]byte(tc.conf)) {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}

// TestResolvConfReload checks that the resolv.conf is read at New, not
// again before the check interval, again after it once it changed, and
// that a missing file keeps the upstreams in use.
func TestResolvConfReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	write := func(conf string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	var u *upstreams
	check := func(step string, want ...string) {
		t.Helper()
		var got []string
		for _, a := range u.get() {
			got = append(got, a.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %q; want %q", step, got, want)
		}
	}
	base := time.Now().Add(-time.Hour)
	write("nameserver 192.0.2.1\n", base)
	cfg := DefaultConfig()
	cfg.ResolvConf, cfg.Logger = path, quietLogger()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u = r.ups
	check("at New", "192.0.2.1:53")

	write("nameserver 192.0.2.2\n", base.Add(time.Second))
	check("before the interval", "192.0.2.1:53")

	u.next = time.Time{} // the interval has passed
	check("after a change", "192.0.2.2:53")

	write("nameserver 192.0.2.3\n", base.Add(time.Second)) // same time and size
	u.next = time.Time{}
	check("same modification time and size: not re-read", "192.0.2.2:53")

	write("nameserver 192.0.2.4\nnameserver 127.0.0.11\n", base.Add(2*time.Second))
	u.next = time.Time{}
	check("re-read, skipping itself", "192.0.2.4:53")

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	u.next = time.Time{}
	check("file gone", "192.0.2.4:53")

	write("nameserver 192.0.2.5\n", base.Add(3*time.Second))
	u.next = time.Time{}
	check("file back", "192.0.2.5:53")
}

// TestResolvConfMissingAtNew checks that a missing resolv.conf is not an
// error: names to forward get SERVFAIL until it appears.
func TestResolvConfMissingAtNew(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ResolvConf, cfg.Logger = filepath.Join(t.TempDir(), "none"), quietLogger()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := r.ups.get(); len(got) != 0 {
		t.Errorf("upstreams: got %v; want none", got)
	}
}

// TestNew pins Config validation and the use of Upstreams.
func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr bool
		want    []string // upstreams in use
	}{
		{name: "default", change: func(c *Config) { c.ResolvConf = "" }},
		{name: "zero timeout", change: func(c *Config) { c.Timeout = 0 }, wantErr: true},
		{name: "negative timeout", change: func(c *Config) { c.Timeout = -time.Second }, wantErr: true},
		{name: "itself as upstream", change: func(c *Config) {
			c.Upstreams = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.11:53")}
		}, wantErr: true},
		{name: "invalid upstream", change: func(c *Config) { c.Upstreams = []netip.AddrPort{{}} }, wantErr: true},
		{name: "port zero", change: func(c *Config) {
			c.Upstreams = []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:0")}
		}, wantErr: true},
		{name: "first three used", change: func(c *Config) {
			for i := range 4 {
				c.Upstreams = append(c.Upstreams, netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 5353))
			}
		}, want: []string{"192.0.2.1:5353", "192.0.2.2:5353", "192.0.2.3:5353"}},
		{name: "upstreams win over resolv.conf", change: func(c *Config) {
			c.ResolvConf = "/nonexistent"
			c.Upstreams = []netip.AddrPort{netip.MustParseAddrPort("[::ffff:192.0.2.1]:53")}
		}, want: []string{"192.0.2.1:53"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Logger = quietLogger()
			tc.change(&cfg)
			r, err := New(cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error: got %v; want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			var got []string
			for _, a := range r.ups.get() {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("upstreams: got %q; want %q", got, tc.want)
			}
		})
	}
}
