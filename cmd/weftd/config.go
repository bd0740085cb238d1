package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// defaultConfigPath is the config file weftd reads when --config is not
// given; it may be missing. A variable for tests.
var defaultConfigPath = "/etc/weft/weftd.yaml"

// reloadable are the keys a SIGHUP applies at once; the others take effect
// at the next start.
var reloadable = map[string]bool{"log-level": true}

// load reads weftd's settings: the defaults, then the config file, then the
// flags in args, each overriding the one before; and checks them. Errors
// name the key, and the file and line or the flag it came from.
func load(args []string) (*options, error) {
	// First pass: the command line alone, for --config and to know which
	// keys it sets.
	o := newOptions()
	fs := newFlags(o)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	onCLI := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCLI[f.Name] = true })
	path := o.configPath

	o = newOptions()
	fs = newFlags(o)
	fs.SetOutput(io.Discard)
	from, err := applyFile(fs, path, onCLI["config"])
	if err != nil {
		return nil, err
	}
	for name := range onCLI {
		delete(from, name)
		if l, ok := fs.Lookup(name).Value.(*dnsList); ok {
			*l = nil // the command line's list replaces the file's
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err // unreachable: the first pass took the same args
	}
	return o, o.resolve(from)
}

// resolve runs o's checks in key order and returns the first failure,
// naming the key and where its value came from: from[key] ("FILE:LINE"),
// or else the flag.
func (o *options) resolve(from map[string]string) error {
	checks := o.checks()
	keys := make([]string, 0, len(checks))
	for k := range checks {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := checks[k](); err != nil {
			if at, ok := from[k]; ok {
				return fmt.Errorf("%s: invalid %s %w", at, k, err)
			}
			return fmt.Errorf("invalid --%s %w", k, err)
		}
	}
	return nil
}

// applyFile sets fs's flags from the YAML config file at path and returns,
// by key, the "FILE:LINE" each value came from. A missing file is no error
// unless explicit (given with --config); an empty path reads nothing.
func applyFile(flags *flag.FlagSet, path string, explicit bool) (map[string]string, error) {
	from := map[string]string{}
	if path == "" {
		return from, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return from, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return from, nil // empty, or comments only
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of keys to values", path, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		at := fmt.Sprintf("%s:%d", path, k.Line)
		if err := setKey(flags, k.Value, v, from); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		from[k.Value] = at
	}
	return from, nil
}

// setKey sets the flag named by a config file key from its YAML value.
func setKey(fs *flag.FlagSet, key string, v *yaml.Node, seen map[string]string) error {
	f := fs.Lookup(key)
	if f == nil || metaFlags[key] {
		return fmt.Errorf("unknown key %q (the keys are weftd's flags: weftd --help)", key)
	}
	if at, ok := seen[key]; ok {
		return fmt.Errorf("key %s given twice (first at %s)", key, at)
	}
	var values []string
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		values = []string{""}
	case v.Kind == yaml.ScalarNode:
		values = []string{v.Value}
	case v.Kind == yaml.SequenceNode && isList(f):
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				return fmt.Errorf("invalid %s: want a list of values", key)
			}
			values = append(values, e.Value)
		}
	default:
		return fmt.Errorf("invalid %s: want a single value", key)
	}
	for _, s := range values {
		if err := f.Value.Set(s); err != nil {
			return fmt.Errorf("invalid %s %q: %s", key, s, want(f, err))
		}
	}
	return nil
}

// want describes what a flag takes, for an error about a value it refused.
func want(f *flag.Flag, err error) string {
	switch kind(f) {
	case "bool":
		return "want true or false"
	case "int":
		return "want a whole number"
	case "duration":
		return "want a duration such as 90s, 15m or 12h"
	}
	return err.Error()
}

// kind is how a flag's value is written in YAML: bool, int, duration, list
// or string.
func kind(f *flag.Flag) string {
	if isList(f) {
		return "list"
	}
	g, _ := f.Value.(flag.Getter)
	if g == nil {
		return "string"
	}
	switch g.Get().(type) {
	case bool:
		return "bool"
	case int, uint, int64, uint64:
		return "int"
	case time.Duration:
		return "duration"
	}
	return "string"
}

func isList(f *flag.Flag) bool {
	_, ok := f.Value.(*dnsList)
	return ok
}

// configHeader opens the config file and --print-config's output.
const configHeader = `# weftd's configuration: /etc/weft/weftd.yaml, or the file given with
# weftd --config FILE.
#
# Every key is one of weftd's flags (weftd --help), and a flag given on
# weftd's command line overrides its key here. The values below are the
# defaults; a key left out keeps its default. weftd --print-config prints the
# configuration in effect, in this format, after checking it.
#
# SIGHUP (systemctl reload weftd) rereads this file: log-level takes effect
# at once, the other keys when weftd next starts.
`

// render writes o's settings as a config file: every key, in name order,
// under a comment that says what it does and what its default is.
func (o *options) render(w io.Writer) error {
	settings := newFlags(o)
	defaults := newFlags(newOptions())
	var b bytes.Buffer
	b.WriteString(configHeader)
	var err error
	settings.VisitAll(func(f *flag.Flag) {
		if metaFlags[f.Name] || err != nil {
			return
		}
		var v []byte
		if v, err = yamlValue(f); err != nil {
			return
		}
		b.WriteString("\n")
		comment(&b, f.Usage+". Default: "+defaultText(defaults.Lookup(f.Name))+".")
		if reloadable[f.Name] {
			b.WriteString("# SIGHUP applies a change at once.\n")
		}
		fmt.Fprintf(&b, "%s: %s", f.Name, v)
	})
	if err != nil {
		return err
	}
	_, err = w.Write(b.Bytes())
	return err
}

// yamlValue encodes a flag's value on one line, ending in a newline.
func yamlValue(f *flag.Flag) ([]byte, error) {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Value.String()}
	switch kind(f) {
	case "bool":
		n.Tag = "!!bool"
	case "int":
		n.Tag = "!!int"
	case "duration":
		n.Value = shortDuration(f.Value.(flag.Getter).Get().(time.Duration))
	case "list":
		n = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for _, s := range *f.Value.(*dnsList) {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.String()})
		}
	}
	return yaml.Marshal(n)
}

// defaultText is a flag's default as a comment shows it.
func defaultText(f *flag.Flag) string {
	v, err := yamlValue(f)
	if err != nil {
		return f.DefValue
	}
	return strings.TrimSpace(string(v))
}

// shortDuration writes d as time.Duration does, less the zero minutes and
// seconds that follow hours or minutes: 12h, 1m30s, 500ms.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// comment writes text as YAML comment lines of at most 78 columns.
func comment(b *bytes.Buffer, text string) {
	line := "#"
	for _, word := range strings.Fields(text) {
		if len(line)+1+len(word) > 78 && line != "#" {
			b.WriteString(line + "\n")
			line = "#"
		}
		line += " " + word
	}
	b.WriteString(line + "\n")
}

// dnsList is the repeatable --dns flag: DNS servers as IP or IP:PORT (53
// when not given).
type dnsList []netip.AddrPort

// Set adds a server.
func (l *dnsList) Set(s string) error {
	ap, err := parseDNSServer(s)
	if err != nil {
		return err
	}
	*l = append(*l, ap)
	return nil
}

// String lists the servers, comma-separated.
func (l *dnsList) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(*l))
	for i, ap := range *l {
		s[i] = ap.String()
	}
	return strings.Join(s, ",")
}

// Get returns the servers.
func (l *dnsList) Get() any { return []netip.AddrPort(*l) }

// parseDNSServer reads a --dns value: an IP address, with or without a port
// (53 by default).
func parseDNSServer(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("want an IP address or IP:PORT, got %q", s)
	}
	return netip.AddrPortFrom(a.Unmap(), 53), nil
}
