package jobs

import (
	"fmt"

	"github.com/hibiken/asynq"
)

// Workers counts the worker processes alive on this Redis that take
// batches of the store's namespace. It reads asynq's server heartbeats,
// which a worker renews every few seconds and which expire seconds after
// it stops, so a crashed worker drops out without anyone cleaning up.
// A worker counted here may still leave a campaign alone (one configured
// for another API server).
func (s *Store) Workers() (int, error) {
	servers, err := asynq.NewInspectorFromRedisClient(s.rdb).Servers()
	if err != nil {
		return 0, fmt.Errorf("list workers: %w", err)
	}
	queues := Queues(s.ns)
	n := 0
	for _, srv := range servers {
		for q := range srv.Queues {
			if _, ok := queues[q]; ok {
				n++
				break
			}
		}
	}
	return n, nil
}
