// Command weft-cni is weft's CNI plugin. Install it in the runtime's CNI
// plugin directory under the name "weft" (the "type" of its network
// configurations); it asks the local weftd to attach containers to the
// weft network a configuration names (see dist/weft.conflist).
package main

import (
	"os"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/weftnet/weft/internal/cniplugin"
)

func main() {
	skel.PluginMainFuncs(cniplugin.Funcs(os.Stdout), cniplugin.Versions, cniplugin.About)
}
