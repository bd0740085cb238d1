package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite docs/cli.md from the commands")

const referencePath = "../../docs/cli.md"

// docs/cli.md is the reference of every weft command, made from the
// commands themselves; this test fails when it is out of date. Refresh it
// with: go test ./cmd/weft -run TestCLIReference -update
func TestCLIReference(t *testing.T) {
	got := reference(newRoot())
	if *update {
		if err := os.WriteFile(referencePath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date; run: go test ./cmd/weft -run TestCLIReference -update", referencePath)
	}
}

// reference renders the command tree under root as Markdown.
func reference(root *cobra.Command) string {
	var b strings.Builder
	b.WriteString("# weft command reference\n\n")
	b.WriteString("Generated from the commands by `go test ./cmd/weft -run TestCLIReference -update`;\n")
	b.WriteString("`weft COMMAND --help` prints the same. weftd's settings are in\n")
	b.WriteString("[dist/weftd.yaml](../dist/weftd.yaml), one key per flag, each with its default.\n\n")
	b.WriteString("Global flags:\n\n```\n" + root.PersistentFlags().FlagUsages() + "```\n")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			if sub.Runnable() {
				fmt.Fprintf(&b, "\n## %s\n\n", sub.CommandPath())
				desc := sub.Long
				if desc == "" {
					desc = sub.Short
				}
				b.WriteString(strings.TrimSpace(desc) + "\n\n```\n" + sub.UseLine() + "\n")
				if flags := sub.NonInheritedFlags().FlagUsages(); flags != "" {
					b.WriteString("\n" + flags)
				}
				b.WriteString("```\n")
			}
			walk(sub)
		}
	}
	walk(root)
	return b.String()
}
