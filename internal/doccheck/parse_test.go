package doccheck

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLinks(t *testing.T) {
	tests := []struct {
		name string
		md   string
		want []link
	}{
		{"inline", "see [DESIGN](../shared/DESIGN.md) and [b](b.md#x)", []link{{1, "../shared/DESIGN.md"}, {1, "b.md#x"}}},
		{"image", "![chart](docs/bench/chart.png)", []link{{1, "docs/bench/chart.png"}}},
		{"image in a link", "[![c](c.png)](d.md)", []link{{1, "c.png"}, {1, "d.md"}}},
		{"title", `[a](a.md "the title")`, []link{{1, "a.md"}}},
		{"angle brackets", "[a](<a b.md>)", []link{{1, "a b.md"}}},
		{"parentheses in the path", "[a](a(1).md)", []link{{1, "a(1).md"}}},
		{"reference definition", "text\n[ref]: /etc/weft/x.md\n", []link{{2, "/etc/weft/x.md"}}},
		{"HTML", `<img src="x.png"> <a href='file:///etc/passwd'>`, []link{{1, "x.png"}, {1, "file:///etc/passwd"}}},
		{"autolink", "<https://www.rfc-editor.org/rfc/rfc7348>", []link{{1, "https://www.rfc-editor.org/rfc/rfc7348"}}},
		{"code span", "`[a](../x.md)` but [b](y.md)", []link{{1, "y.md"}}},
		{"double code span", "``a ` [a](../x.md)`` [b](y.md)", []link{{1, "y.md"}}},
		{"fenced block", "```sh\n[a](../x.md)\n```\n[b](y.md)", []link{{4, "y.md"}}},
		{"tilde fence", "~~~\n[a](../x.md)\n~~~\n", nil},
		{"longer fence holds a shorter one", "````\n```\n[a](../x.md)\n```\n````\n[b](y.md)", []link{{6, "y.md"}}},
		{"shell, no link", `kill $(cat /tmp/pid) && echo "[x]"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := links(tt.md); !slices.Equal(got, tt.want) {
				t.Errorf("got %v; want %v", got, tt.want)
			}
		})
	}
}

func TestCheckLink(t *testing.T) {
	// base holds the repository (repo) and, beside it, a file a clone of
	// the repository does not have.
	base := t.TempDir()
	root := filepath.Join(base, "repo")
	for _, f := range []string{"shared/DESIGN.md", "repo/README.md", "repo/docs/design.md", "repo/docs/bench/chart.png"} {
		p := filepath.Join(base, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(base, "shared"), filepath.Join(root, "shared")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, target string
		web, ok      bool
	}{
		{"README.md", "docs/design.md", false, true},
		{"README.md", "docs/design.md#trust", false, true},
		{"README.md", "./docs/../README.md", false, true},
		{"README.md", "docs/bench/chart.png", false, true},
		{"README.md", "docs/bench", false, true},
		{"README.md", "#try-it", false, true},
		{"README.md", "https://www.rfc-editor.org/rfc/rfc7348", true, true},
		{"README.md", "mailto:someone@example.org", true, true},
		{"README.md", "../shared/DESIGN.md", false, false},
		{"README.md", "docs/missing.md", false, false},
		{"README.md", "/etc/passwd", false, false},
		{"README.md", "file:///etc/passwd", false, false},
		{"README.md", "shared/DESIGN.md", false, false},
		{"README.md", "docs/design%2Emd", false, true},
		{"docs/design.md", "../README.md", false, true},
		{"docs/design.md", "bench/chart.png", false, true},
		{"docs/design.md", "../../shared/DESIGN.md", false, false},
		{"docs/design.md", "design.md/../../..", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.target, func(t *testing.T) {
			web, err := checkLink(root, filepath.FromSlash(tt.file), tt.target)
			if web != tt.web || (err == nil) != tt.ok {
				t.Errorf("got web %v, error %v; want web %v, ok %v", web, err, tt.web, tt.ok)
			}
		})
	}
}
