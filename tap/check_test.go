package tap

import (
	"errors"
	"testing"
)

func TestCheckRead(t *testing.T) {
	tests := []struct {
		name   string
		bufs   [][]byte
		sizes  int
		offset int
		want   error
	}{
		{"ok", [][]byte{make([]byte, 10), make([]byte, 10)}, 2, 4, nil},
		{"more sizes than bufs", [][]byte{make([]byte, 10)}, 3, 9, nil},
		{"no bufs", nil, 0, 0, nil},
		{"short sizes", [][]byte{make([]byte, 10), make([]byte, 10)}, 1, 0, errShortSizes},
		{"offset at end", [][]byte{make([]byte, 10), make([]byte, 4)}, 2, 4, ErrBadOffset},
		{"negative offset", [][]byte{make([]byte, 10)}, 1, -1, ErrBadOffset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkRead(tt.bufs, make([]int, tt.sizes), tt.offset); !errors.Is(got, tt.want) {
				t.Fatalf("checkRead = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestClampSize(t *testing.T) {
	tests := []struct{ n, room, want int }{
		{60, 100, 60},
		{100, 100, 100},
		{150, 100, 100},
	}
	for _, tt := range tests {
		if got := clampSize(tt.n, tt.room); got != tt.want {
			t.Errorf("clampSize(%d, %d) = %d; want %d", tt.n, tt.room, got, tt.want)
		}
	}
}
