// Package fib asks the kernel's own forwarding table where a packet goes,
// so that a datapath which sends frames itself (AF_XDP) decides as the
// kernel would and never from a copy of the routes that drifts.
//
// The answer comes from the kernel's bpf_fib_lookup helper, the code the
// kernel's forwarding path itself runs: the policy rules (ip rule by
// source, input interface, l3mdev for VRFs), every table, the route types
// that do not forward (blackhole, unreachable, prohibit, throw falling to
// the next rule, local and broadcast destinations), ECMP multipath by the
// kernel's hash, the path MTU including learned exceptions, and the next
// hop's neighbour entry. A small XDP program that only calls the helper
// is run from user space with BPF_PROG_TEST_RUN (Lookup): one system call
// of about a microsecond, whatever the size of the table.
//
// A Cache keeps answers per source and destination for one datapath
// goroutine, without locks; a Watcher counts the kernel's announcements
// of route, rule, neighbour, address and link changes, and every change
// empties every cache at once (a generation number), so an answer is
// never older than the change that made it wrong. The watcher reads the
// announcements without decoding them and survives an overflow of its
// socket (a route storm from a BGP feed) by treating the lost messages as
// one more change; nothing is ever re-read whole, so the cost of a
// change does not grow with the table either.
//
// What the helper cannot see is a firewall mark set by netfilter or tc,
// and the layer-4 selectors of a rule (ip_proto, sport, dport) that only
// the packet carries; Rules reports whether the rules use them, so that
// the datapath can hand such traffic to the kernel.
package fib
