package loopwatch

import (
	"testing"
	"time"
)

func TestLoop(t *testing.T) {
	var idle, busy Loop
	busy.Working()
	time.Sleep(20 * time.Millisecond)
	if idle.Age() != 0 {
		t.Errorf("an idle loop has age %v", idle.Age())
	}
	if a := busy.Age(); a < 20*time.Millisecond || a > 10*time.Second {
		t.Errorf("a loop working for 20 ms has age %v", a)
	}
	if o := Oldest([]*Loop{&idle, &busy}); o < 20*time.Millisecond {
		t.Errorf("oldest %v", o)
	}
	busy.Waiting()
	if busy.Age() != 0 {
		t.Errorf("a loop back to waiting has age %v", busy.Age())
	}
	if n := testing.AllocsPerRun(100, func() { busy.Working(); busy.Waiting() }); n != 0 {
		t.Errorf("%v allocations per round", n)
	}
}
