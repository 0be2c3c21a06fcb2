// Package nat64 is a stateful NAT64 (RFC 6146): many IPv6 hosts share a
// pool of IPv4 addresses and ports, on top of the translate engine.
//
// What it implements:
//
//   - pool4 (§3, §3.5.1.1): IPv4 prefixes lending TCP and UDP ports and ICMP
//     identifiers; new bindings get a port by RFC 6056 algorithm 3 (a keyed
//     hash with a random secret), keeping the source port's parity and its
//     0-1023 / 1024-65535 class (RFC 4787 REQ-3a, REQ-4), and all of one
//     host's bindings on one address ("paired" pooling, REQ-2). Another
//     source of ports plugs in through [Allocator].
//   - BIB and sessions (§3.1, §3.2): static and dynamic bindings,
//     endpoint-independent mapping, endpoint-independent filtering by
//     default and address-dependent filtering as an option (§3.5.1).
//   - TCP (§3.5.2): the whole state machine, the unsolicited-SYN rule (held
//     six seconds, then ICMPv4 port unreachable, RFC 5382 REQ-4) and
//     simultaneous open; UDP and ICMP query sessions (§3.5.1, §3.5.3);
//     hairpinning (§3.8); ICMP errors matched to their session through the
//     quoted packet and never creating state (§3.5, §3.6).
//   - Timers (§4): UDP 5 min (min 2), TCP established 2 h, transitory
//     4 min, ICMP 60 s, incoming SYN 6 s; an idle established connection
//     gets TCP_TRANS before it goes. Expiry walks per-timeout lists kept in
//     expiry order, so its cost is what expires, never the table.
//   - Fragments (§3.4): later fragments, which carry no ports, follow their
//     first fragment's session.
//   - Limits: sessions in all, per IPv6 source and per /64; a flow over a
//     limit is refused with ICMPv6 1/3, established flows are untouched.
//
// # The tables
//
// Sessions live in 64 shards chosen by the remote IPv4 endpoint (Z, z),
// which both directions know before any lookup, so a packet of an
// established flow takes one shard lock and touches nothing shared. Each
// shard keeps 48-byte records in a slab and finds them through two
// open-addressing indexes of 32-bit record numbers; with the BIB's share a
// session costs about 110 bytes. The BIB itself is consulted only when a
// session is created or deleted.
//
// Time is coarse (seconds): [Translator.Tick] advances it and expires what
// is due; a gateway calls it every second. The clock is injectable
// (Config.Now) for tests.
//
// # Observing and replicating
//
// [Translator.RangeSessions] and [Translator.RangeBIB] list the tables;
// [Hooks] receive session and binding events (the mapping log of who held
// which IPv4 address and port, and the feed of a sync transport), and
// [Translator.Apply] replays a peer's session events.
//
// # High availability
//
// [Sync] keeps the sessions of gateways that stand in for each other in
// step, over UDP ([ListenSync]: unicast peers or a multicast group).
// Creations and state changes are coalesced per session and batched, 35
// to a datagram (39 bytes per session on the wire); every datagram is
// authenticated with HMAC-SHA256 under a shared key and carries the
// sender's epoch and sequence number, so forged, replayed and old-epoch
// datagrams are dropped and counted, and a gap that reordering does not
// close within 200 ms makes the receiver ask for the whole table again,
// as a restarted gateway does when it starts. Deletions are not sent:
// each gateway expires sessions by its own timers, and a lifetime is
// refreshed only when a peer's copy would otherwise run out, so sync
// traffic follows the rate of new flows, not of packets; sending is paced
// so that a resync of a large table does not overflow the peer. Active/passive
// pairs share one pool4; active/active pairs each allocate from their
// own and list the other's as StandbyPool4.
//
// Unlike Jool's joold (multicast only, unauthenticated, no
// acknowledgement or loss detection, no resync of a restarted peer), a
// lost datagram or a rebooted peer here ends in a full resync.
//
// [Broker] hands the port choice for some destinations to the handoff/1
// client (package handoff). A Broker, an [Allocator] and the source of
// the port secret are [Collaborators], given to [New] once; [Config] is
// data only, and [Translator.Update] replaces it all or nothing.
package nat64
