#!/bin/sh
# Box A's data plane: the link to the campus router moves into the data
# namespace with its addresses and default routes (box B: 2001:db8:ca:b::2,
# 198.51.100.10/29, via 2001:db8:ca:b::1 and 198.51.100.9). The sync link
# (198.51.100.241/30) and the management network stay outside.
set -e
ns=data
ip link set eth1 netns $ns
ip -n $ns link set lo up
ip -n $ns addr add 2001:db8:ca:a::2/64 dev eth1
ip -n $ns addr add 198.51.100.2/29 dev eth1
ip -n $ns link set eth1 up
ip -n $ns -6 route add default via 2001:db8:ca:a::1
ip -n $ns route add default via 198.51.100.1
