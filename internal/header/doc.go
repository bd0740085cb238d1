// Package header reads and writes Ethernet, ARP, IPv4, IPv6, TCP and UDP headers in place, as views of byte slices.
package header
