// Package resolver is the embedded DNS server weftd runs in each container's
// network namespace at 127.0.0.11:53: it answers the names of containers on
// the networks the asking container is on and forwards every other name to
// the host's resolvers.
//
// A Resolver holds one Zone per network, the DNS view of the control plane's
// endpoint records, in a copy-on-write snapshot: SetZone and RemoveZone
// replace it whole, and queries read it without locks. Serve answers queries
// on sockets the daemon opened inside a namespace; each Instance asks its
// networks function, per query, which zones its container is on.
//
// # Answering
//
// Names compare case-insensitively. A query for NAME. matches the Name or an
// Alias of endpoints in every zone the asker is on (a dotted name too);
// NAME.NET. matches only in the asker's zone whose Name is NET. Every
// matching endpoint's addresses are returned, deduplicated: A gives the
// IPv4 ones, AAAA the IPv6 ones, ANY both, any other type none (NODATA).
// Local answers are authoritative and carry Config.TTL.
//
// A name of one label that matches nothing is NXDOMAIN, never forwarded;
// so is NAME.NET. for a NET the asker is on. Every other name, another
// network's NAME.NET. included, is forwarded, as Docker's resolver does: it
// does not resolve locally, and a network named like a real domain does
// not hide that domain. Reverse names (in-addr.arpa, ip6.arpa) of an
// address of a named endpoint on the asker's networks give one PTR to
// NAME.NET.; of any other address inside any zone's subnets or endpoints,
// NXDOMAIN. A reverse name that is not exactly one full address (a partial
// name such as 17.172.in-addr.arpa., or stray labels) is forwarded like any
// other name.
//
// A class other than IN, a count of questions other than one, or a message
// that does not parse after its header is answered FORMERR; an opcode other
// than QUERY, NOTIMP; a packet shorter than a header, or a response, is
// dropped. EDNS0 is echoed (version 0 only; others get BADVERS). Over UDP an
// answer larger than 512 bytes, or than the client's EDNS0 size clamped to
// [512, 4096], is truncated with TC set.
//
// # Forwarding
//
// Everything else goes to the upstreams (Config.Upstreams, or the
// nameservers of Config.ResolvConf), in order, over the client's transport,
// under one budget (Config.Timeout) shared out among the upstreams not yet
// tried. An error, a timeout, SERVFAIL or REFUSED moves on to the next; the
// first other answer is returned as it came but for the client's ID and
// question (upstreams see a fresh ID) and RA, which is always set. When none
// answered, the client gets SERVFAIL. Each Instance (each container) may
// have 256 forwards in flight: 32 slots of its own and the rest borrowed
// from a pool of 1024 its Resolver's Instances share, so that a container
// can neither take more than 256 nor any of another's 32. Past that the
// client gets SERVFAIL at once (counted in Stats.Overloaded), as it does
// when no upstream is configured.
//
// # Transports
//
// Each UDP query is answered in its own goroutine. A TCP connection is
// served in its own goroutine, its queries in order; it is closed after 8 s
// without a query, or on a frame that is not a query. An Instance keeps at
// most 64 TCP connections open and closes more at once.
//
// Forwarding sockets are opened by whatever OS thread runs the query's
// goroutine, so they live in the daemon's own namespace as long as the
// daemon never lets a goroutine's thread stay in a container's namespace;
// that is what makes a host resolver on loopback (such as 127.0.0.53)
// reachable.
//
// # Logs
//
// Log records use these keys: "path" (a resolv.conf), "upstream" (one
// resolver address), "upstreams" (the list in use), "network" (a zone ID),
// "name" (a DNS or endpoint name), "proto" ("udp" or "tcp"), "addr" (a
// socket address) and "err". Nothing is logged per query above Debug.
package resolver
