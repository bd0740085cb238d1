// Package doccheck holds the tests that keep the repository's documentation
// standing on its own: every link in the README and docs/ leads to a file
// inside the repository, or to the web. It needs no root.
package doccheck
