package netns

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// The table "pocketdock" (family ip):
//
//	chain guard   { type filter hook prerouting priority raw; iifname != "lo" ip daddr 127.0.0.0/8 drop }
//	chain prerouting { type nat hook prerouting priority dstnat; fib daddr type local jump ports }
//	chain output  { type nat hook output priority dstnat; fib daddr type local jump ports }
//	chain ports   { [ip daddr HOSTIP] ip protocol P th dport HP dnat to CIP:CP   # one per mapping, tagged }
//	chain postrouting { type nat hook postrouting priority srcnat;
//	                ip saddr SUBNET oifname != "pocketdock0" masquerade          # egress
//	                ip saddr 127.0.0.0/8 oifname "pocketdock0" masquerade         # 127.0.0.1 forwards
//	                ip saddr SUBNET oifname "pocketdock0" ct status dnat masquerade }  # hairpin
//
// The guard keeps route_localnet=1 on the bridge from exposing 127.0.0.0/8
// to anything but the host itself.

var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}

const (
	chainGuard = "guard"
	chainPre   = "prerouting"
	chainOut   = "output"
	chainPorts = "ports"
	chainPost  = "postrouting"
	chainFwd   = "forward"
)

func staticComment() []byte {
	return userdata.AppendString(nil, userdata.TypeComment, aliasPrefix+" shared")
}

func tagComment(t Tag) []byte { return userdata.AppendString(nil, userdata.TypeComment, t.String()) }

func ruleTag(r *nftables.Rule) (Tag, bool) {
	s, ok := userdata.GetString(r.UserData, userdata.TypeComment)
	if !ok {
		return Tag{}, false
	}
	return ParseTag(s)
}

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

// matchIfname: meta iifname/oifname (==|!=) name.
func matchIfname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: ifname(name)},
	}
}

// matchAddr: ip saddr/daddr in prefix (offset 12 = saddr, 16 = daddr).
func matchAddr(offset uint32, n *net.IPNet) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(n.Mask), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: n.IP.To4()},
	}
}

func mustNet(s string) *net.IPNet {
	_, n, _ := net.ParseCIDR(s)
	return n
}

// ensureTable makes the table with its chains and shared rules when it is
// missing (under the allocator lock). An existing table is kept as it is.
func ensureTable(subnet *net.IPNet) error {
	c := &nftables.Conn{}
	tabs, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	for _, t := range tabs {
		if t.Name == TableName {
			return nil
		}
	}
	c.AddTable(table)
	accept := nftables.ChainPolicyAccept
	guard := c.AddChain(&nftables.Chain{Name: chainGuard, Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw, Policy: &accept})
	pre := c.AddChain(&nftables.Chain{Name: chainPre, Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	out := c.AddChain(&nftables.Chain{Name: chainOut, Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	c.AddChain(&nftables.Chain{Name: chainPorts, Table: table})
	post := c.AddChain(&nftables.Chain{Name: chainPost, Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})

	loop := mustNet("127.0.0.0/8")
	add := func(ch *nftables.Chain, ex ...[]expr.Any) {
		var all []expr.Any
		for _, e := range ex {
			all = append(all, e...)
		}
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: all, UserData: staticComment()})
	}
	drop := []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}}
	add(guard, matchIfname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, "lo"), matchAddr(16, loop), drop)
	local := []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: chainPorts},
	}
	add(pre, local)
	add(out, local)
	masq := []expr.Any{&expr.Counter{}, &expr.Masq{}}
	add(post, matchAddr(12, subnet), matchIfname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, BridgeName), masq)
	add(post, matchAddr(12, loop), matchIfname(expr.MetaKeyOIFNAME, expr.CmpOpEq, BridgeName), masq)
	dnatted := []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(0x20 /* IPS_DST_NAT */), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
	add(post, matchAddr(12, subnet), matchIfname(expr.MetaKeyOIFNAME, expr.CmpOpEq, BridgeName), dnatted, masq)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: make table %s: %w", TableName, err)
	}
	return nil
}

// addPortRules adds one DNAT rule per mapping to the ports chain, tagged with t.
func addPortRules(t Tag, cip net.IP, ports []PortMapping) error {
	if len(ports) == 0 {
		return nil
	}
	c := &nftables.Conn{}
	ch := &nftables.Chain{Name: chainPorts, Table: table}
	for _, p := range ports {
		var ex []expr.Any
		if p.HostIP != "" {
			ex = append(ex,
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: net.ParseIP(p.HostIP).To4()})
		}
		l4 := byte(unix.IPPROTO_TCP)
		if proto(p.Protocol) == "udp" {
			l4 = unix.IPPROTO_UDP
		}
		ex = append(ex,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 9, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(p.HostPort))},
			&expr.Counter{},
			&expr.Immediate{Register: 1, Data: cip.To4()},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(uint16(p.ContainerPort))},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		)
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: ex, UserData: tagComment(t)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: add port forwards: %w", err)
	}
	return nil
}

// TaggedRule is a pocketdock rule found in the kernel.
type TaggedRule struct {
	Table, Chain string
	Handle       uint64
	Tag          Tag
}

// String names the rule for doctor's report.
func (r TaggedRule) String() string {
	return fmt.Sprintf("nftables rule %s/%s handle %d (container %s)", r.Table, r.Chain, r.Handle, short(r.Tag.ID))
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// taggedRules lists every rule carrying a container tag in pocketdock's
// table (the accepts in docker's chains are shared, not per container).
func taggedRules() ([]TaggedRule, error) {
	c := &nftables.Conn{}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	var out []TaggedRule
	for _, ch := range chains {
		if ch.Table.Name != TableName {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("nftables: rules of %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			if t, ok := ruleTag(r); ok {
				out = append(out, TaggedRule{Table: ch.Table.Name, Chain: ch.Name, Handle: r.Handle, Tag: t})
			}
		}
	}
	return out, nil
}

// deleteRules removes every rule tagged t (and nothing else).
func deleteRules(t Tag) error {
	rules, err := taggedRules()
	if err != nil {
		return err
	}
	c := &nftables.Conn{}
	n := 0
	for _, r := range rules {
		if r.Tag != t {
			continue
		}
		tab := &nftables.Table{Name: r.Table, Family: nftables.TableFamilyIPv4}
		if err := c.DelRule(&nftables.Rule{Table: tab, Chain: &nftables.Chain{Name: r.Chain, Table: tab}, Handle: r.Handle}); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: delete rules of %s: %w", short(t.ID), err)
	}
	return nil
}

// deleteTable removes pocketdock's table, if present, and the shared
// accepts it added to docker's chains.
func deleteTable() error {
	c := &nftables.Conn{}
	tabs, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	for _, t := range tabs {
		if t.Name == TableName {
			c.DelTable(table)
			if err := c.Flush(); err != nil {
				return fmt.Errorf("nftables: delete table %s: %w", TableName, err)
			}
		}
	}
	return removeForwardAccepts()
}

// TableExists reports whether the table "pocketdock" is in the kernel.
func TableExists() (bool, error) {
	c := &nftables.Conn{}
	tabs, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, err
	}
	for _, t := range tabs {
		if t.Name == TableName {
			return true, nil
		}
	}
	return false, nil
}
