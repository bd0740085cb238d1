package doccheck

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A clone of the repository alone has every file the README and docs/ link
// to: no link leaves the repository, names an absolute path or a file://
// URL, or points at a file that is not there. Links to the web (RFCs,
// upstream projects) are allowed, and listed with -v.
func TestDocLinks(t *testing.T) {
	root := repoRoot(t)
	files, err := docFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, "README.md") || !slices.Contains(files, filepath.Join("docs", "design.md")) {
		t.Fatalf("documents found: %v; want README.md and docs/design.md among them", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		ls := links(string(b))
		if f == "README.md" && len(ls) == 0 {
			t.Fatalf("found no links in README.md; the link parser is broken")
		}
		for _, l := range ls {
			web, err := checkLink(root, f, l.target)
			switch {
			case err != nil:
				t.Errorf("%s:%d: link %q: %v", f, l.line, l.target, err)
			case web:
				t.Logf("%s:%d: web link %s", f, l.line, l.target)
			}
		}
	}
}

// repoRoot returns the directory of the module's go.mod, above the test's.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// docFiles returns the Markdown files a reader of the repository meets,
// relative to root: those at the top and everything under docs/.
func docFiles(root string) ([]string, error) {
	top, err := filepath.Glob(filepath.Join(root, "*.md"))
	if err != nil {
		return nil, err
	}
	var files []string
	for _, f := range top {
		files = append(files, filepath.Base(f))
	}
	err = filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
			return err
		}
		rel, err := filepath.Rel(root, path)
		files = append(files, rel)
		return err
	})
	return files, err
}

// link is one link target in a Markdown document, with its line (1-based).
type link struct {
	line   int
	target string
}

var (
	// refDef is a reference definition: [label]: target.
	refDef = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:[ \t]*(<[^>]*>|\S+)`)
	// htmlLink is an href or src attribute of inline HTML.
	htmlLink = regexp.MustCompile(`(?i)\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	// autolink is <scheme:...>.
	autolink = regexp.MustCompile(`<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\s]*)>`)
	// scheme is the scheme of an absolute URL.
	scheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.\-]*):`)
)

// links returns the targets of the links and images in a Markdown document:
// inline ones, reference definitions, autolinks and HTML href and src
// attributes. Fenced code blocks and code spans are skipped: what they hold
// is text, not links.
func links(md string) []link {
	var out []link
	fence := ""
	for i, line := range strings.Split(md, "\n") {
		if f := fenceOf(line); f != "" && (fence == "" || strings.HasPrefix(f, fence) && strings.TrimSpace(line) == f) {
			if fence == "" {
				fence = f
			} else {
				fence = ""
			}
			continue
		}
		if fence != "" {
			continue
		}
		for _, t := range lineLinks(blankCode(line)) {
			out = append(out, link{i + 1, t})
		}
	}
	return out
}

// fenceOf returns the run of backticks or tildes that opens or closes a
// fenced code block on line, or "" if line is not a fence.
func fenceOf(line string) string {
	s := strings.TrimLeft(line, " ")
	if len(line)-len(s) > 3 || len(s) < 3 || (s[0] != '`' && s[0] != '~') {
		return ""
	}
	n := len(s) - len(strings.TrimLeft(s, s[:1]))
	if n < 3 {
		return ""
	}
	return s[:n]
}

// blankCode replaces the contents of the code spans on a line by spaces.
func blankCode(line string) string {
	b := []byte(line)
	for i := 0; i < len(b); {
		if b[i] != '`' {
			i++
			continue
		}
		n := runLen(b, i)
		end := closingRun(b, i+n, n)
		if end < 0 {
			i += n
			continue
		}
		for j := i + n; j < end; j++ {
			b[j] = ' '
		}
		i = end + n
	}
	return string(b)
}

// runLen returns the length of the run of backticks at b[i].
func runLen(b []byte, i int) int {
	n := 0
	for i+n < len(b) && b[i+n] == '`' {
		n++
	}
	return n
}

// closingRun returns where the next run of exactly n backticks from b[i]
// starts, or -1.
func closingRun(b []byte, i, n int) int {
	for i < len(b) {
		if b[i] != '`' {
			i++
			continue
		}
		m := runLen(b, i)
		if m == n {
			return i
		}
		i += m
	}
	return -1
}

// lineLinks returns the link targets on one line, its code spans blanked.
func lineLinks(line string) []string {
	var out []string
	for rest := line; ; {
		i := strings.Index(rest, "](")
		if i < 0 {
			break
		}
		rest = rest[i+2:]
		if t := destination(rest); t != "" {
			out = append(out, t)
		}
	}
	if m := refDef.FindStringSubmatch(line); m != nil {
		out = append(out, strings.Trim(m[1], "<>"))
	}
	for _, m := range htmlLink.FindAllStringSubmatch(line, -1) {
		out = append(out, m[1]+m[2])
	}
	for _, m := range autolink.FindAllStringSubmatch(line, -1) {
		out = append(out, m[1])
	}
	return out
}

// destination returns the link destination at the start of s, the text
// after "](": <...>, or up to white space or the parenthesis that closes
// the link.
func destination(s string) string {
	s = strings.TrimLeft(s, " \t")
	if strings.HasPrefix(s, "<") {
		if end := strings.IndexByte(s, '>'); end > 0 {
			return s[1:end]
		}
		return ""
	}
	depth := 0
	for i, c := range s {
		switch {
		case c == '(':
			depth++
		case c == ')' && depth == 0, c == ' ', c == '\t':
			return s[:i]
		case c == ')':
			depth--
		}
	}
	return s
}

// checkLink checks one link target of the document file (relative to root)
// and reports whether it is a web link. A web link (http, https, mailto)
// and a link within the document (#anchor) pass. Any other scheme, an
// absolute path, a path that leaves root, even through a symbolic link,
// and a path to nothing fail.
func checkLink(root, file, target string) (web bool, err error) {
	if m := scheme.FindStringSubmatch(target); m != nil {
		switch strings.ToLower(m[1]) {
		case "http", "https", "mailto":
			return true, nil
		}
		return false, fmt.Errorf("a %s: link leads outside the repository", m[1])
	}
	path, _, _ := strings.Cut(target, "#")
	path, _, _ = strings.Cut(path, "?")
	if path == "" {
		return false, nil
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	if strings.HasPrefix(path, "/") || filepath.IsAbs(path) {
		return false, errors.New("an absolute path: a clone of the repository elsewhere does not have it")
	}
	full := filepath.Join(root, filepath.Dir(file), filepath.FromSlash(path))
	if !inside(root, full) {
		return false, errors.New("leads outside the repository")
	}
	resolved, err := filepath.EvalSymlinks(full)
	if err != nil {
		return false, fmt.Errorf("no such file in the repository: %w", err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return false, err
	}
	if !inside(realRoot, resolved) {
		return false, fmt.Errorf("leads outside the repository through a symbolic link, to %s", resolved)
	}
	return false, nil
}

// inside reports whether path is root or below it; both are clean.
func inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
