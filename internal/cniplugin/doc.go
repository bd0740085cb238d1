// Package cniplugin is weft's CNI plugin ("type": "weft"): it turns the
// CNI commands a container runtime runs (ADD, DEL, CHECK, GC, STATUS,
// VERSION) into requests to the local weftd's API, and weftd's answers
// into CNI results and errors.
//
// The plugin holds no state of its own: weftd keeps every attachment with
// the runtime's container ID, so DEL works after weftd restarted or once
// the namespace is gone, and GC can tell the plugin's attachments apart.
package cniplugin
