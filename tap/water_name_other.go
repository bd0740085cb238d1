//go:build !linux && !darwin && !windows

package tap

import "github.com/songgao/water"

// setWaterName does nothing: water opens no device on this GOOS.
func setWaterName(cfg *water.Config, name string) {}
