// Package e2e holds weft's integration tests: real weftd processes on hosts
// made of network namespaces, veths, bridges and TAPs. They need root and run
// in CI; see main_test.go for how they find their binaries.
package e2e
