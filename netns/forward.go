package netns

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// Docker sets the FORWARD policy of iptables' filter table to DROP. A DROP in
// any base chain is final in netfilter, so an accept in pocketdock's own
// table cannot help; docker's documented way is a rule in its DOCKER-USER
// chain (or, without one, at the head of FORWARD). pocketdock inserts three
// accepts there, each commented "pocketdock shared", and removes exactly
// those with the bridge. Only the iptables-nft form (table ip filter) is seen;
// a host on iptables-legacy would need the same rules made with iptables.

const forwardComment = aliasPrefix + " shared"

// forwardChains returns the chains of table ip filter to put the accepts in:
// DOCKER-USER when present, else FORWARD when its policy is drop, else none.
func forwardChains(c *nftables.Conn) ([]*nftables.Chain, error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	var user, fwd *nftables.Chain
	for _, ch := range chains {
		if ch.Table.Name != "filter" {
			continue
		}
		switch ch.Name {
		case "DOCKER-USER":
			user = ch
		case "FORWARD":
			if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
				fwd = ch
			}
		}
	}
	if user != nil {
		return []*nftables.Chain{user}, nil
	}
	if fwd != nil {
		return []*nftables.Chain{fwd}, nil
	}
	return nil, nil
}

func isForwardAccept(r *nftables.Rule) bool {
	s, ok := userdata.GetString(r.UserData, userdata.TypeComment)
	return ok && s == forwardComment
}

// ensureForwardAccepts inserts the accepts into docker's chain when there is
// one and they are not there yet.
func ensureForwardAccepts() error {
	c := &nftables.Conn{}
	chains, err := forwardChains(c)
	if err != nil || len(chains) == 0 {
		return err
	}
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return fmt.Errorf("nftables: rules of filter/%s: %w", ch.Name, err)
		}
		have := false
		for _, r := range rules {
			if isForwardAccept(r) {
				have = true
			}
		}
		if have {
			continue
		}
		ud := userdata.AppendString(nil, userdata.TypeComment, forwardComment)
		accept := &expr.Verdict{Kind: expr.VerdictAccept}
		// Inserted at the head in reverse order: iifname, then the two oifname rules.
		c.InsertRule(&nftables.Rule{Table: ch.Table, Chain: ch, UserData: ud, Exprs: append(
			matchIfname(expr.MetaKeyOIFNAME, expr.CmpOpEq, BridgeName),
			&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(0x20 /* IPS_DST_NAT */), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
			accept)})
		c.InsertRule(&nftables.Rule{Table: ch.Table, Chain: ch, UserData: ud, Exprs: append(
			matchIfname(expr.MetaKeyOIFNAME, expr.CmpOpEq, BridgeName),
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
				Xor:  binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
			accept)})
		c.InsertRule(&nftables.Rule{Table: ch.Table, Chain: ch, UserData: ud, Exprs: append(
			matchIfname(expr.MetaKeyIIFNAME, expr.CmpOpEq, BridgeName), accept)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: accept bridge traffic in docker's forward chain: %w", err)
	}
	return nil
}

// removeForwardAccepts deletes the rules ensureForwardAccepts added (by their comment).
func removeForwardAccepts() error {
	c := &nftables.Conn{}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	n := 0
	for _, ch := range chains {
		if ch.Table.Name != "filter" || (ch.Name != "DOCKER-USER" && ch.Name != "FORWARD") {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			continue
		}
		for _, r := range rules {
			if isForwardAccept(r) {
				if err := c.DelRule(r); err != nil {
					return err
				}
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	return c.Flush()
}
