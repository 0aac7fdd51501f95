// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package policy

// The match index lets a call visit only the policies whose tenants, client
// ids and grant types can select it, in snapshot order, so that 1,000
// policies of which two match cost about what two cost.
//
// For each of the three dimensions it keeps, per value, the ascending
// positions of the policies that list the value, and the positions of the
// policies whose list is empty (they match any value). A call picks the
// dimension with the fewest candidates for its values, walks that value's
// positions and the wildcards' in one ascending merge, and checks each
// candidate's other two dimensions with Match.Matches. The cost is the
// number of candidates in the most selective dimension: the matching
// policies themselves when policies are told apart by any one of tenant,
// client or grant. Building it is linear in the total length of the lists.

const (
	dimTenant = iota
	dimClient
	dimGrant
	numDims
)

type dimIndex struct {
	by  map[string][]int32
	any []int32
}

type matchIndex struct {
	dims [numDims]dimIndex
}

func newMatchIndex(ps []*Policy) *matchIndex {
	x := &matchIndex{}
	for d := range x.dims {
		x.dims[d].by = map[string][]int32{}
	}
	for i, p := range ps {
		for d, list := range [numDims][]string{p.Match.Tenants, p.Match.ClientIDs, p.Match.GrantTypes} {
			di := &x.dims[d]
			if len(list) == 0 {
				di.any = append(di.any, int32(i))
				continue
			}
			for _, v := range list {
				// Positions grow with i: a repeated value is the last one added.
				if pos := di.by[v]; len(pos) == 0 || pos[len(pos)-1] != int32(i) {
					di.by[v] = append(pos, int32(i))
				}
			}
		}
	}
	return x
}

// Selection walks the policies that select a call by tenant, client id and
// grant type, in snapshot order. It allocates nothing.
type Selection struct {
	ps                    []*Policy
	a, b                  []int32 // ascending positions, disjoint
	scan                  int     // next position when there is no index
	indexed               bool
	tenant, client, grant string
}

// Select returns the policies whose Match lists select the call (When, the
// conditions on the user, is the caller's to check), in snapshot order:
//
//	for sel, p := snap.Select(t, c, g), sel.Next(); p != nil; p = sel.Next() { ... }
func (s *Snapshot) Select(tenant, clientID, grantType string) Selection {
	sel := Selection{ps: s.Policies, tenant: tenant, client: clientID, grant: grantType}
	x := s.index
	if x == nil {
		return sel
	}
	sel.indexed = true
	best := -1
	for d, v := range [numDims]string{tenant, clientID, grantType} {
		di := &x.dims[d]
		pos := di.by[v]
		if n := len(pos) + len(di.any); best < 0 || n < best {
			best, sel.a, sel.b = n, pos, di.any
		}
	}
	return sel
}

// Next returns the next selected policy, or nil after the last.
func (sel *Selection) Next() *Policy {
	for {
		var i int
		switch {
		case !sel.indexed:
			if sel.scan >= len(sel.ps) {
				return nil
			}
			i = sel.scan
			sel.scan++
		case len(sel.a) > 0 && (len(sel.b) == 0 || sel.a[0] < sel.b[0]):
			i, sel.a = int(sel.a[0]), sel.a[1:]
		case len(sel.b) > 0:
			i, sel.b = int(sel.b[0]), sel.b[1:]
		default:
			return nil
		}
		if p := sel.ps[i]; p.Match.Matches(sel.tenant, sel.client, sel.grant) {
			return p
		}
	}
}
