package fdb

import (
	"strings"
	"testing"
)

func TestMACString(t *testing.T) {
	for _, tc := range []struct {
		mac  MAC
		want string
	}{
		{MAC{0x02, 0x42, 0xc6, 0x13, 0x00, 0x05}, "02:42:c6:13:00:05"},
		{MAC{}, "00:00:00:00:00:00"},
		{MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "ff:ff:ff:ff:ff:ff"},
		{MAC{0xab, 0xcd, 0xef, 0x01, 0x23, 0x45}, "ab:cd:ef:01:23:45"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.mac.String(); got != tc.want {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}

func TestParseMAC(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    MAC
		wantErr bool
	}{
		{in: "02:42:c6:13:00:05", want: MAC{0x02, 0x42, 0xc6, 0x13, 0x00, 0x05}},
		{in: "02-42-C6-13-00-05", want: MAC{0x02, 0x42, 0xc6, 0x13, 0x00, 0x05}},
		{in: "FF:ff:Ff:fF:ff:ff", want: MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{in: "", wantErr: true},
		{in: "02:42:c6:13:00", wantErr: true},
		{in: "02:42:c6:13:00:05:06", wantErr: true},
		{in: "02:42-c6:13:00:05", wantErr: true},
		{in: "02.42.c6.13.00.05", wantErr: true},
		{in: "0242.c613.0005", wantErr: true},
		{in: "02:42:c6:13:00:0g", wantErr: true},
		{in: "2:42:c6:13:00:05 ", wantErr: true},
		{in: " 02:42:c6:13:00:5", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMAC(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("got error %v; want error %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tc.in) {
				t.Errorf("got error %q; want it to quote the input", err)
			}
			if got != tc.want {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
}

func TestIsMulticast(t *testing.T) {
	for _, tc := range []struct {
		mac  MAC
		want bool
	}{
		{MAC{0x02, 0x42, 0xc6, 0x13, 0x00, 0x05}, false},
		{MAC{0x00, 0x00, 0x5e, 0x00, 0x53, 0x01}, false},
		{MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, true},
		{MAC{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}, true},
		{MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true},
	} {
		t.Run(tc.mac.String(), func(t *testing.T) {
			if got := tc.mac.IsMulticast(); got != tc.want {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
}

// FuzzParseMAC checks that every MAC ParseMAC accepts prints as itself in
// canonical form and parses back to the same MAC.
func FuzzParseMAC(f *testing.F) {
	f.Add("02:42:c6:13:00:05")
	f.Add("02-42-C6-13-00-05")
	f.Add("02:42-c6:13:00:05")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMAC(s)
		if err != nil {
			return
		}
		if got := m.String(); got != strings.ToLower(strings.ReplaceAll(s, "-", ":")) {
			t.Errorf("ParseMAC(%q).String() = %q; want the input in canonical form", s, got)
		}
		back, err := ParseMAC(m.String())
		if err != nil || back != m {
			t.Errorf("ParseMAC(%q) = %v, %v; want %v, nil", m.String(), back, err, m)
		}
	})
}
