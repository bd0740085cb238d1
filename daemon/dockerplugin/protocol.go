package dockerplugin

// The bodies of libnetwork's remote plugin protocol, v1: the network
// driver's (drivers/remote/api) and the IPAM driver's (ipams/remote/api).
// Field names are the protocol's; every call is a POST with a JSON body
// and a JSON answer.

// ContentType is the media type of every answer.
const ContentType = "application/vnd.docker.plugins.v1.2+json"

// errorResponse is the body of a refused call.
type errorResponse struct {
	Err string
}

type activateResponse struct {
	Implements []string
}

type capabilitiesResponse struct {
	Scope             string
	ConnectivityScope string
}

// ipamData is one address pool of a network, as the network driver is
// told it.
type ipamData struct {
	AddressSpace string
	Pool         string
	Gateway      string
	AuxAddresses map[string]string
}

type createNetworkRequest struct {
	NetworkID string
	Options   map[string]any
	IPv4Data  []ipamData
	IPv6Data  []ipamData
}

type networkRequest struct {
	NetworkID string
}

type endpointInterface struct {
	Address     string `json:",omitempty"`
	AddressIPv6 string `json:",omitempty"`
	MacAddress  string `json:",omitempty"`
}

type createEndpointRequest struct {
	NetworkID  string
	EndpointID string
	Interface  *endpointInterface
	Options    map[string]any
}

type createEndpointResponse struct {
	Interface *endpointInterface `json:",omitempty"`
}

type endpointRequest struct {
	NetworkID  string
	EndpointID string
}

type operInfoResponse struct {
	Value map[string]any
}

type joinRequest struct {
	NetworkID  string
	EndpointID string
	SandboxKey string
	Options    map[string]any
}

type interfaceName struct {
	SrcName   string
	DstPrefix string
}

type joinResponse struct {
	InterfaceName         interfaceName
	Gateway               string `json:",omitempty"`
	DisableGatewayService bool
}

type ipamCapabilitiesResponse struct {
	RequiresMACAddress    bool
	RequiresRequestReplay bool
}

type addressSpacesResponse struct {
	LocalDefaultAddressSpace  string
	GlobalDefaultAddressSpace string
}

type requestPoolRequest struct {
	AddressSpace string
	Pool         string
	SubPool      string
	Options      map[string]string
	V6           bool
}

type requestPoolResponse struct {
	PoolID string
	Pool   string
	Data   map[string]string
}

type releasePoolRequest struct {
	PoolID string
}

type requestAddressRequest struct {
	PoolID  string
	Address string
	Options map[string]string
}

type requestAddressResponse struct {
	Address string
	Data    map[string]string
}

type releaseAddressRequest struct {
	PoolID  string
	Address string
}

// Option keys Docker sends.
const (
	genericOption  = "com.docker.network.generic"             // CreateNetwork: the -o options
	internalOption = "com.docker.network.internal"            // CreateNetwork: --internal
	mtuOption      = "com.docker.network.driver.mtu"          // -o: the network's MTU
	encryptedOpt   = "encrypted"                              // -o: ESP between hosts
	macOption      = "com.docker.network.endpoint.macaddress" // RequestAddress: the endpoint's MAC
	addrTypeOption = "RequestAddressType"                     // RequestAddress: what the address is for
	gatewayType    = "com.docker.network.gateway"             // ... a network's gateway
	portMapOption  = "com.docker.network.portmap"             // ProgramExternalConnectivity: -p
)

// NetworkOption is the option, in a Docker network's IPAM options and
// driver options, that names the weft network it shows: weftd sets it on
// the Docker networks it makes for weft's networks.
const NetworkOption = "weft.network"

// AddressSpace is the one address space weft's IPAM driver has.
const AddressSpace = "weft"
