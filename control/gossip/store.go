package gossip

import (
	"slices"
	"strings"
	"time"
)

// store holds every record an agent knows, live or tombstone, visible or
// not, indexed by endpoint and by network. It is not safe for concurrent
// use; the Agent's lock guards it.
type store struct {
	recs  map[string]*entry
	byNet map[string]map[string]struct{} // network → endpoint IDs
}

// entry is a stored record and when this node stored it.
type entry struct {
	rec    Record
	stored time.Time
}

func newStore() *store {
	return &store{recs: make(map[string]*entry), byNet: make(map[string]map[string]struct{})}
}

// get returns the record held for id.
func (s *store) get(id string) (Record, bool) {
	e, ok := s.recs[id]
	if !ok {
		return Record{}, false
	}
	return e.rec, true
}

// put stores r unless the record held for its endpoint is as new or newer
// (see newer). It returns the record r replaced, if any, and whether r was
// stored. The store keeps r as given: callers pass a copy they own.
func (s *store) put(r Record, now time.Time) (old Record, had, stored bool) {
	e, had := s.recs[r.EndpointID]
	if had {
		if !newer(r, e.rec) {
			return e.rec, true, false
		}
		old = e.rec
		s.unindex(old)
	}
	s.recs[r.EndpointID] = &entry{rec: r, stored: now}
	s.index(r)
	return old, had, true
}

// remove forgets the record held for id.
func (s *store) remove(id string) {
	if e, ok := s.recs[id]; ok {
		s.unindex(e.rec)
		delete(s.recs, id)
	}
}

// network returns the records held for a network, sorted by endpoint ID.
func (s *store) network(network string) []Record {
	out := make([]Record, 0, len(s.byNet[network]))
	for id := range s.byNet[network] {
		out = append(out, s.recs[id].rec)
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.EndpointID, b.EndpointID) })
	return out
}

// expired returns the endpoint IDs of records for which drop returns true.
func (s *store) expired(drop func(e *entry) bool) []string {
	var ids []string
	for id, e := range s.recs {
		if drop(e) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (s *store) index(r Record) {
	ids := s.byNet[r.Network]
	if ids == nil {
		ids = make(map[string]struct{})
		s.byNet[r.Network] = ids
	}
	ids[r.EndpointID] = struct{}{}
}

func (s *store) unindex(r Record) {
	ids := s.byNet[r.Network]
	delete(ids, r.EndpointID)
	if len(ids) == 0 {
		delete(s.byNet, r.Network)
	}
}
