package hatest

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// kvInput is one operation on a register: a write of value, or a read.
type kvInput struct {
	Write bool
	Key   string
	Value string
}

// kvOutput is what the client saw: the value read (a write has none).
type kvOutput struct {
	Value string
}

// history records every operation with its invoke and return times.
type history struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
	// unknown counts writes whose outcome the client could not learn.
	unknown int
}

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) now() int64 { return int64(time.Since(h.start)) }

// add records a finished operation.
func (h *history) add(client int, in kvInput, out kvOutput, call, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
}

// addUnknown records a write that may or may not have happened: it may
// take effect at any time after its call, so it returns "never".
func (h *history) addUnknown(client int, in kvInput, call int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unknown++
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: kvOutput{}, Call: call, Return: math.MaxInt64 / 2})
}

// registerModel is a map of independent registers, checked per key.
var registerModel = porcupine.Model{
	Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range ops {
			in, _ := op.Input.(kvInput)
			byKey[in.Key] = append(byKey[in.Key], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in, _ := input.(kvInput)
		out, _ := output.(kvOutput)
		st, _ := state.(string)
		if in.Write {
			return true, in.Value
		}
		return out.Value == st, st
	},
	DescribeOperation: func(input, output any) string {
		in, _ := input.(kvInput)
		out, _ := output.(kvOutput)
		if in.Write {
			return fmt.Sprintf("put(%s, %s)", in.Key, in.Value)
		}
		return fmt.Sprintf("get(%s) -> %q", in.Key, out.Value)
	},
}
