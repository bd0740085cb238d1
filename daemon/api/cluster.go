package api

// ClusterInit asks weftd to start a cluster with itself as the first manager.
type ClusterInit struct {
	AdvertiseAddr   string `json:"AdvertiseAddr,omitempty"`   // IP or IP:PORT others reach 2377 at; default: the data path address
	ListenAddr      string `json:"ListenAddr,omitempty"`      // IP:PORT to listen on for 2377; default 0.0.0.0:2377
	DefaultAddrPool string `json:"DefaultAddrPool,omitempty"` // CIDR networks without --subnet are carved from
	DataPathAddr    string `json:"DataPathAddr,omitempty"`    // must match weftd's --data-path-addr
	DataPathPort    int    `json:"DataPathPort,omitempty"`    // must match weftd's --data-path-port
	PoolMaskLen     int    `json:"PoolMaskLen,omitempty"`     // size of each carved subnet; default 24
	CertExpiry      string `json:"CertExpiry,omitempty"`      // lifetime of node certificates (Go duration, at least 1m); default 2160h
}

// ClusterUpdate changes the cluster's settings; empty fields are left as
// they are.
type ClusterUpdate struct {
	CertExpiry string `json:"CertExpiry,omitempty"` // lifetime of node certificates issued or renewed from now on
}

// ClusterJoin asks weftd to join a cluster through one of its managers.
type ClusterJoin struct {
	Token         string `json:"Token"`
	RemoteAddr    string `json:"RemoteAddr"` // a manager's IP:2377
	AdvertiseAddr string `json:"AdvertiseAddr,omitempty"`
	ListenAddr    string `json:"ListenAddr,omitempty"`
	DataPathAddr  string `json:"DataPathAddr,omitempty"`
	DataPathPort  int    `json:"DataPathPort,omitempty"`
}

// ClusterLeave asks weftd to leave its cluster.
type ClusterLeave struct {
	Force bool `json:"Force"`
}

// ClusterInfo describes this node's place in the cluster.
type ClusterInfo struct {
	NodeID   string   `json:"NodeID"`
	Role     string   `json:"Role"`
	Managers []string `json:"Managers"`
	// Tokens are filled in on init, for the join commands it prints.
	WorkerToken  string `json:"WorkerToken,omitempty"`
	ManagerToken string `json:"ManagerToken,omitempty"`
}

// JoinToken asks for (or rotates) the token of a role.
type JoinToken struct {
	Role   string `json:"Role"` // worker or manager
	Rotate bool   `json:"Rotate"`
	Token  string `json:"Token,omitempty"` // filled in the reply
}

// Node is one member of the cluster, as `weft node ls` shows it.
type Node struct {
	ID            string `json:"ID"`
	Hostname      string `json:"Hostname"`
	Status        string `json:"Status"` // Ready or Down
	Role          string `json:"Role"`
	ManagerStatus string `json:"ManagerStatus"` // Leader, Reachable, Unreachable; empty for workers
	Addr          string `json:"Addr"`
	DataAddr      string `json:"DataAddr"`
	Self          bool   `json:"Self"`
}
