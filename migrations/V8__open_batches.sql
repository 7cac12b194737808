-- Runners sweep the unfinished batches every few seconds (a batch whose last item's runner
-- stopped before marking it finished): the sweep reads these rows only, not every batch ever.
create index batches_open on batches (batch_id) where finished_at is null;
