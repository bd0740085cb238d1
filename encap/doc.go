// Package encap builds and parses VXLAN (RFC 7348) and moves underlay
// datagrams in batches.
package encap
