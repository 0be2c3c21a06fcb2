// Package jool converts Jool's atomic configuration files (one instance
// each, as "jool file handle" and "jool_siit file handle" take them) into
// a gateway configuration with one instance per file: "xlatgw
// import-jool" is Command. Every option that cannot carry over is named
// in a warning; nothing is dropped silently.
package jool

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/v6xlat/xlat/internal/gateway"
	"github.com/v6xlat/xlat/nat64"
)

// joolGlobal says what becomes of each of Jool's global options: the
// xlatgw option it carries over to (the same name unless said), or why
// it cannot. kind limits an option to one translator.
var joolGlobal = map[string]struct {
	to, kind, why string
}{
	"pool6":                         {to: "pool6"},
	"lowest-ipv6-mtu":               {to: "lowest-ipv6-mtu"},
	"zeroize-traffic-class":         {to: "zeroize-traffic-class"},
	"override-tos":                  {to: "override-tos"},
	"tos":                           {to: "tos"},
	"mtu-plateaus":                  {to: "mtu-plateaus"},
	"amend-udp-checksum-zero":       {to: "amend-udp-checksum-zero", kind: "siit"},
	"eam-hairpin-mode":              {to: "eam-hairpin-mode", kind: "siit"},
	"rfc6791v4-prefix":              {to: "rfc6791v4-prefix", kind: "siit"},
	"rfc6791v6-prefix":              {to: "rfc6791v6-prefix", kind: "siit"},
	"maximum-simultaneous-opens":    {to: "maximum-simultaneous-opens", kind: "nat64"},
	"source-icmpv6-errors-better":   {to: "source-icmpv6-errors-better", kind: "nat64"},
	"address-dependent-filtering":   {to: "address-dependent-filtering", kind: "nat64"},
	"drop-icmpv6-info":              {to: "drop-icmpv6-info", kind: "nat64"},
	"drop-externally-initiated-tcp": {to: "drop-externally-initiated-tcp", kind: "nat64"},
	"udp-timeout":                   {to: "timeouts.udp", kind: "nat64"},
	"tcp-est-timeout":               {to: "timeouts.tcp-est", kind: "nat64"},
	"tcp-trans-timeout":             {to: "timeouts.tcp-trans", kind: "nat64"},
	"icmp-timeout":                  {to: "timeouts.icmp", kind: "nat64"},

	"manually-enabled":            {why: "false paused the instance in Jool; xlatgw translates from the start (leave the instance out to pause it)"},
	"randomize-rfc6791-addresses": {kind: "siit", why: "the RFC 6791 source is chosen by hash, not at random"},
	"handle-rst-during-fin-rcv":   {kind: "nat64", why: "the TCP state machine follows RFC 6146 (a RST always ends the session)"},
	"f-args":                      {kind: "nat64", why: "the port choice hashes all of RFC 6056's arguments"},
	"logging-bib":                 {kind: "nat64", why: "use the gateway's \"mapping-log\" file"},
	"logging-session":             {kind: "nat64", why: "use the gateway's \"mapping-log\" file"},
	"ss-enabled":                  {kind: "nat64", why: "session sync is the instance's \"sync\" section (its own protocol, not joold's)"},
	"ss-flush-asap":               {kind: "nat64", why: "session sync is the instance's \"sync\" section"},
	"ss-flush-deadline":           {kind: "nat64", why: "session sync is the instance's \"sync\" section"},
	"ss-capacity":                 {kind: "nat64", why: "session sync is the instance's \"sync\" section"},
	"ss-max-payload":              {kind: "nat64", why: "session sync is the instance's \"sync\" section"},
	"trace":                       {why: "no packet tracing; see xlatgw's metrics and \"xlatgw translate\""},
	"bib-logging":                 {kind: "nat64", why: "use the gateway's \"mapping-log\" file"},
	"session-logging":             {kind: "nat64", why: "use the gateway's \"mapping-log\" file"},
}

// joolFile is one instance of Jool's atomic configuration.
type joolFile struct {
	path string
	top  map[string]json.RawMessage
}

// warner collects the warnings, each naming the file and the option.
type warner struct {
	w     io.Writer
	count int
}

func (w *warner) warn(file, option, format string, args ...any) {
	w.count++
	fmt.Fprintf(w.w, "import-jool: %s: %s: %s\n", file, option, fmt.Sprintf(format, args...))
}

// Command is "xlatgw import-jool [-type siit|nat64] FILE...": it prints
// the configuration to stdout and the warnings to stderr.
func Command(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import-jool", flag.ContinueOnError)
	typ := fs.String("type", "", "siit or nat64 for every file (default: told by each file's options)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("import-jool: give Jool's JSON files")
	}
	if *typ != "" && *typ != "siit" && *typ != "nat64" {
		return fmt.Errorf("import-jool: -type %q: siit or nat64", *typ)
	}
	w := &warner{w: stderr}
	cfg := gateway.Config{TUN: gateway.TUNConfig{Name: "xlat", MTU: 1500}}
	pool6s := map[string][]string{}
	for _, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("import-jool: %w", err)
		}
		f := joolFile{path: path}
		if err := json.Unmarshal(data, &f.top); err != nil {
			return fmt.Errorf("import-jool: %s: not a Jool JSON file: %w", path, err)
		}
		in, err := f.instance(*typ, w)
		if err != nil {
			return fmt.Errorf("import-jool: %s: %w", path, err)
		}
		for _, other := range cfg.Instances {
			if other.Name == in.Name {
				return fmt.Errorf("import-jool: %s: instance %q is named twice", path, in.Name)
			}
		}
		var p struct {
			Pool6 string `json:"pool6"`
		}
		json.Unmarshal(append(in.SIIT, in.NAT64...), &p)
		pool6s[p.Pool6] = append(pool6s[p.Pool6], in.Name)
		cfg.Instances = append(cfg.Instances, in)
	}
	for p, names := range pool6s {
		if len(names) > 1 {
			w.warn("(all)", "rules", "instances %s share pool6 %s: Jool told them apart by netfilter marks or iptables rules; add xlatgw \"rules\" that split the IPv4 destinations between them", strings.Join(names, ", "), p)
		}
	}
	w.warn("(all)", "tun", "set tun.ipv4-address and tun.ipv6-address, the gateway's own addresses that source its ICMP errors (Jool took the interface's); the device is named %q", cfg.TUN.Name)
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

// instance converts one file.
func (f *joolFile) instance(typ string, w *warner) (gateway.InstanceConfig, error) {
	name := strings.TrimSuffix(filepath.Base(f.path), filepath.Ext(f.path))
	if raw, ok := f.top["instance"]; ok {
		if err := json.Unmarshal(raw, &name); err != nil || name == "" {
			return gateway.InstanceConfig{}, fmt.Errorf("instance: %s is not a name", raw)
		}
	} else {
		w.warn(f.path, "instance", "none given; named %q after the file", name)
	}
	var global map[string]json.RawMessage
	if raw, ok := f.top["global"]; ok {
		if err := json.Unmarshal(raw, &global); err != nil {
			return gateway.InstanceConfig{}, fmt.Errorf("global: %w", err)
		}
	}
	if typ == "" {
		var err error
		if typ, err = f.kind(global); err != nil {
			return gateway.InstanceConfig{}, err
		}
	}
	out := map[string]any{}
	timeouts := map[string]string{}
	for _, k := range sortedKeys(global) {
		raw := global[k]
		opt, known := joolGlobal[k]
		switch {
		case k == "comment":
		case k == "manually-enabled" && string(raw) == "true": // enabled, as xlatgw is
		case !known:
			w.warn(f.path, "global."+k, "unknown to import-jool; not carried over")
		case opt.kind != "" && opt.kind != typ:
			w.warn(f.path, "global."+k, "a %s option in a %s instance; not carried over", opt.kind, typ)
		case opt.to == "":
			w.warn(f.path, "global."+k, "not supported: %s", opt.why)
		case string(raw) == "null":
		case strings.HasPrefix(opt.to, "timeouts."):
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return gateway.InstanceConfig{}, fmt.Errorf("global.%s: %s is not a timeout", k, raw)
			}
			d, err := joolDuration(s)
			if err != nil {
				return gateway.InstanceConfig{}, fmt.Errorf("global.%s: %w", k, err)
			}
			if d%time.Second != 0 {
				w.warn(f.path, "global."+k, "%s: xlatgw's timeouts are whole seconds; rounded down", s)
			}
			timeouts[strings.TrimPrefix(opt.to, "timeouts.")] = nat64Duration(d)
		default:
			out[opt.to] = raw
		}
	}
	if len(timeouts) > 0 {
		out["timeouts"] = timeouts
	}
	for _, k := range sortedKeys(f.top) {
		raw := f.top[k]
		switch k {
		case "comment", "instance", "global":
		case "framework":
			var fw string
			json.Unmarshal(raw, &fw)
			if fw == "iptables" {
				w.warn(f.path, "framework", "iptables: the instance translated only what iptables rules sent it; xlatgw translates what is routed into its TUN device (its rules pick the instance by IPv4 prefix)")
			}
		case "eamt":
			if typ != "siit" {
				w.warn(f.path, k, "an EAMT in a nat64 instance; not carried over")
				continue
			}
			eamt, err := joolEAMT(raw)
			if err != nil {
				return gateway.InstanceConfig{}, fmt.Errorf("eamt: %w", err)
			}
			out["eamt"] = eamt
		case "denylist4", "blacklist4":
			if typ != "siit" {
				w.warn(f.path, k, "a denylist in a nat64 instance; not carried over")
				continue
			}
			var list []string
			if err := json.Unmarshal(raw, &list); err != nil {
				return gateway.InstanceConfig{}, fmt.Errorf("%s: %w", k, err)
			}
			var ps []netip.Prefix
			for _, s := range list {
				p, err := joolPrefix(s, 32)
				if err != nil {
					return gateway.InstanceConfig{}, fmt.Errorf("%s: %w", k, err)
				}
				ps = append(ps, p)
			}
			out["denylist4"] = ps
		case "pool4":
			if typ != "nat64" {
				w.warn(f.path, k, "a pool4 in a siit instance; not carried over")
				continue
			}
			pool4, err := joolPool4(raw, f.path, w)
			if err != nil {
				return gateway.InstanceConfig{}, fmt.Errorf("pool4: %w", err)
			}
			out["pool4"] = pool4
		case "bib":
			if typ != "nat64" {
				w.warn(f.path, k, "a BIB in a siit instance; not carried over")
				continue
			}
			bib, err := joolBIB(raw)
			if err != nil {
				return gateway.InstanceConfig{}, fmt.Errorf("bib: %w", err)
			}
			out["bib"] = bib
		default:
			w.warn(f.path, k, "unknown to import-jool; not carried over")
		}
	}
	if typ == "nat64" && out["pool4"] == nil {
		w.warn(f.path, "pool4", "empty: Jool then masquerades with the node's own addresses (ports 61001-65535); xlatgw needs the pool4 listed")
	}
	body, err := json.Marshal(out)
	if err != nil {
		return gateway.InstanceConfig{}, err
	}
	in := gateway.InstanceConfig{Name: name, Type: typ}
	if typ == "siit" {
		in.SIIT = body
	} else {
		in.NAT64 = body
	}
	return in, nil
}

// kind tells a SIIT file from a NAT64 one by the options only one has,
// at the top and among the globals.
func (f *joolFile) kind(global map[string]json.RawMessage) (string, error) {
	var siit, nat bool
	for _, k := range []string{"eamt", "denylist4", "blacklist4"} {
		_, ok := f.top[k]
		siit = siit || ok
	}
	for _, k := range []string{"pool4", "bib"} {
		_, ok := f.top[k]
		nat = nat || ok
	}
	for k := range global {
		switch joolGlobal[k].kind {
		case "siit":
			siit = true
		case "nat64":
			nat = true
		}
	}
	switch {
	case siit && nat:
		return "", errors.New("has both SIIT options (eamt, denylist4, rfc6791) and NAT64 ones (pool4, bib, timeouts): give -type")
	case siit:
		return "siit", nil
	case nat:
		return "nat64", nil
	}
	return "", errors.New("nothing tells a SIIT file from a NAT64 one (only pool6 and common options): give -type siit or -type nat64")
}

func joolEAMT(raw json.RawMessage) ([]map[string]netip.Prefix, error) {
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, err
	}
	var out []map[string]netip.Prefix
	for i, e := range entries {
		var v6, v4 string
		if err := json.Unmarshal(e["ipv6 prefix"], &v6); err != nil {
			return nil, fmt.Errorf("[%d]: \"ipv6 prefix\" missing or not a string", i)
		}
		if err := json.Unmarshal(e["ipv4 prefix"], &v4); err != nil {
			return nil, fmt.Errorf("[%d]: \"ipv4 prefix\" missing or not a string", i)
		}
		p6, err := joolPrefix(v6, 128)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		p4, err := joolPrefix(v4, 32)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, map[string]netip.Prefix{"ipv6": p6, "ipv4": p4})
	}
	return out, nil
}

func joolPool4(raw json.RawMessage, path string, w *warner) ([]map[string]any, error) {
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, err
	}
	var out []map[string]any
	for i, e := range entries {
		var proto, prefix string
		if err := json.Unmarshal(e["protocol"], &proto); err != nil {
			return nil, fmt.Errorf("[%d]: protocol missing", i)
		}
		if err := json.Unmarshal(e["prefix"], &prefix); err != nil {
			return nil, fmt.Errorf("[%d]: prefix missing", i)
		}
		p, err := joolPrefix(prefix, 32)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		entry := map[string]any{"protocol": strings.ToUpper(proto), "prefix": p}
		for _, k := range sortedKeys(e) {
			v := e[k]
			switch k {
			case "protocol", "prefix", "comment":
			case "port range":
				var r string
				if err := json.Unmarshal(v, &r); err != nil {
					return nil, fmt.Errorf("[%d]: port range: %s", i, v)
				}
				entry["ports"] = r
			case "mark":
				entry["mark"] = v
			case "max-iterations":
				w.warn(path, fmt.Sprintf("pool4[%d].max-iterations", i), "not supported: the port search is bounded by the range itself")
			default:
				w.warn(path, fmt.Sprintf("pool4[%d].%s", i, k), "unknown to import-jool; not carried over")
			}
		}
		out = append(out, entry)
	}
	return out, nil
}

func joolBIB(raw json.RawMessage) ([]map[string]string, error) {
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, err
	}
	var out []map[string]string
	for i, e := range entries {
		var proto, v6, v4 string
		if json.Unmarshal(e["protocol"], &proto) != nil || json.Unmarshal(e["ipv6 address"], &v6) != nil || json.Unmarshal(e["ipv4 address"], &v4) != nil {
			return nil, fmt.Errorf("[%d]: needs protocol, \"ipv6 address\" and \"ipv4 address\"", i)
		}
		out = append(out, map[string]string{"protocol": strings.ToUpper(proto), "ipv6": v6, "ipv4": v4})
	}
	return out, nil
}

// joolPrefix reads a prefix or a bare address (a host prefix of bits).
func joolPrefix(s string, bits int) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, bits), nil
}

// joolDuration reads Jool's timeouts: [[HH:]MM:]SS[.mmm], plain numbers
// of at most nat64.MaxDuration in all.
func joolDuration(s string) (time.Duration, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return 0, fmt.Errorf("%q is not [[HH:]MM:]SS[.mmm]", s)
	}
	tooLong := fmt.Errorf("%q is longer than %s", s, nat64.Duration(nat64.MaxDuration))
	var d time.Duration
	for i, p := range parts {
		unit := []time.Duration{time.Second, time.Minute, time.Hour}[len(parts)-1-i]
		if i == len(parts)-1 {
			// Digits and one point only: ParseFloat would take NaN,
			// Inf and exponents too.
			if p == "" || strings.Trim(p, "0123456789.") != "" || strings.Count(p, ".") > 1 {
				return 0, fmt.Errorf("%q is not [[HH:]MM:]SS[.mmm]", s)
			}
			sec, err := strconv.ParseFloat(p, 64)
			if err != nil || sec < 0 {
				return 0, fmt.Errorf("%q is not [[HH:]MM:]SS[.mmm]", s)
			}
			if sec > nat64.MaxDuration.Seconds() {
				return 0, tooLong
			}
			d += time.Duration(sec * float64(time.Second))
		} else {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("%q is not [[HH:]MM:]SS[.mmm]", s)
			}
			if n > int(nat64.MaxDuration/unit) {
				return 0, tooLong
			}
			d += time.Duration(n) * unit
		}
		if d > nat64.MaxDuration {
			return 0, tooLong
		}
	}
	return d, nil
}

// nat64Duration writes d as the nat64 package's H:MM:SS.
func nat64Duration(d time.Duration) string {
	b, _ := nat64.Duration(d.Truncate(time.Second)).MarshalText()
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
