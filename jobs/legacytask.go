package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
)

// Tasks of campaigns stored by earlier versions (payload version 1) carry
// no incarnation, so a task of a deleted campaign and one of a campaign
// created again under its ID look alike, and share task IDs. The campaign's
// legacy identity is its creation time (Campaign.identity); a task has
// none, so what it can be checked against is the campaign's IDs.

// LegacyBatchBelongs reports whether batch b (a task without an
// incarnation) can be a batch of the campaign now stored under b.Campaign:
// that campaign has no incarnation either, was created at c.CreatedAt (the
// creation a worker loaded), and holds every one of b's IDs in the segment
// of batch b.Batch. A task of a deleted campaign whose ID was used again
// fails this and must be dropped: its IDs name assets nobody selected in
// the new campaign. The error wraps ErrCampaignGone when c is no longer
// the stored creation.
func (s *Store) LegacyBatchBelongs(ctx context.Context, c *Campaign, b *Batch) (bool, error) {
	cur, err := s.Get(ctx, b.Campaign)
	if errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("campaign %s: %w", b.Campaign, ErrCampaignGone)
	}
	if err != nil {
		return false, err
	}
	if cur.Incarnation != "" || cur.identity() != c.identity() {
		return false, fmt.Errorf("campaign %s: created again since it was loaded: %w", b.Campaign, ErrCampaignGone)
	}
	for seg := 0; seg < cur.Segments; seg++ {
		info, err := s.segmentInfo(ctx, cur.ID, seg)
		if err != nil {
			return false, err
		}
		if b.Batch < info.FirstBatch || b.Batch >= info.FirstBatch+info.Batches {
			continue
		}
		set, err := s.segmentIDs(ctx, cur, seg)
		if err != nil {
			return false, err
		}
		for _, id := range b.IDs {
			if !set.Contains(id) {
				return false, nil
			}
		}
		return true, nil
	}
	return false, nil
}

// legacyTaskID is the task ID of batch b of campaign c (no incarnation)
// when its plain ID is held by a task of another creation of the same
// campaign ID: the creation time keeps the two apart.
func legacyTaskID(c *Campaign, b *Batch) string {
	id := b.TaskID()
	return c.ID + ":" + c.identity() + strings.TrimPrefix(id, c.ID)
}

// enqueueLegacyConflict handles a task ID conflict for a batch without an
// incarnation: the existing task is this batch (same campaign, batch,
// generation and IDs: already queued), or a stale one of an earlier
// creation of the campaign ID, which must not stand in for this batch; this
// batch is then enqueued under legacyTaskID.
func (s *Store) enqueueLegacyConflict(ctx context.Context, c *Campaign, b *Batch, payload []byte) (bool, error) {
	insp := asynq.NewInspectorFromRedisClient(s.rdb)
	queue := Queue(s.ns, c.Priority)
	info, err := insp.GetTaskInfo(queue, b.TaskID())
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound):
		// Gone between the conflict and the look: enqueue it again.
		_, err = s.client.EnqueueContext(ctx, asynq.NewTask(TypeBatch, payload), s.enqueueOpts(c, b.TaskID())...)
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return s.enqueueLegacyConflict(ctx, c, b, payload)
		}
		if err != nil {
			return false, fmt.Errorf("enqueue batch %d of campaign %s: %w", b.Batch, c.ID, err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("enqueue batch %d of campaign %s: inspect the task holding its ID: %w", b.Batch, c.ID, err)
	}
	if old, derr := DecodeBatch(info.Payload); derr == nil && old.Campaign == b.Campaign && old.Incarnation == "" &&
		old.Batch == b.Batch && old.Gen == b.Gen && slices.Equal(old.IDs, b.IDs) {
		return false, nil // this batch, already queued
	}
	_, err = s.client.EnqueueContext(ctx, asynq.NewTask(TypeBatch, payload), s.enqueueOpts(c, legacyTaskID(c, b))...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enqueue batch %d of campaign %s (created %s) beside a stale task of an earlier creation: %w",
			b.Batch, c.ID, strconv.FormatInt(c.CreatedAt.UnixMilli(), 10), err)
	}
	return true, nil
}
