package cluster

import (
	"net/http"
	"testing"
)

// A join whose answer is lost after the manager recorded the node can be
// retried from the same host: the retry is the same node, admitted again,
// and the cluster holds one record of it.
func TestJoinRetryAfterLostAnswer(t *testing.T) {
	m, tokens := initNode(t, testConfig(t, "m1"))
	lose := func(string) { panic(http.ErrAbortHandler) } // the connection closes with no answer
	m.manager.afterAdmit.Store(&lose)
	cfg := testConfig(t, "w1")
	if _, err := tryJoin(t, cfg, tokens.Worker, m.advertise.String()); err == nil {
		t.Fatal("join whose answer is lost: got success; want an error")
	}
	m.manager.afterAdmit.Store(nil)
	w, err := tryJoin(t, cfg, tokens.Worker, m.advertise.String())
	if err != nil {
		t.Fatalf("join again from the same host: got %v; want success", err)
	}
	var ids []string
	for _, n := range state(t, m).Nodes {
		if n.DataAddr == cfg.DataAddr {
			ids = append(ids, n.ID)
		}
	}
	if len(ids) != 1 || ids[0] != w.ID() {
		t.Errorf("nodes with the data address %s: got %v; want [%s]", cfg.DataAddr, ids, w.ID())
	}
}
