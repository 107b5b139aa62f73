-- Before each insert the writer looks up which of the batch's eventIds a table already holds
-- (server/ingest/writer.ts, storedIds: `event_id IN (…)`). No table is sorted by event_id (they
-- are sorted for the KPIs, by customer), so the look-up read every event_id of the table and its
-- cost grew with the store: 100-150 ms for a webhook batch of 150 ids at 10M purchases, most of
-- a trickle request's acknowledgement. A bloom filter per granule (8192 rows) lets the engine
-- skip the granules that hold none of the ids: 20 ms at 10M, about 8% more on disk for the
-- purchases (docs/performance.md, "Steady state"). False positives (1 in 10 000 per id and
-- granule) only cost a granule read; the answer is the same with or without the index. A bulk
-- load's look-ups of thousands of ids match nearly every granule's filter: past 2 000 ids the
-- writer reads without it (writer.ts, BLOOM_MAX_IDS).
-- MATERIALIZE builds it for the rows stored before this migration; the runner waits for the
-- mutation (mutations_sync = 2: every replica on a cluster, where it runs on the local tables).
ALTER TABLE ${db}.purchases ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.0001) GRANULARITY 1;
ALTER TABLE ${db}.purchases MATERIALIZE INDEX event_id_bloom;
ALTER TABLE ${db}.refunds ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.0001) GRANULARITY 1;
ALTER TABLE ${db}.refunds MATERIALIZE INDEX event_id_bloom;
ALTER TABLE ${db}.referrals ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.0001) GRANULARITY 1;
ALTER TABLE ${db}.referrals MATERIALIZE INDEX event_id_bloom;
ALTER TABLE ${db}.survey_responses ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.0001) GRANULARITY 1;
ALTER TABLE ${db}.survey_responses MATERIALIZE INDEX event_id_bloom;
ALTER TABLE ${db}.customers ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.0001) GRANULARITY 1;
ALTER TABLE ${db}.customers MATERIALIZE INDEX event_id_bloom;
ALTER TABLE ${db}.loyalty_events ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.0001) GRANULARITY 1;
ALTER TABLE ${db}.loyalty_events MATERIALIZE INDEX event_id_bloom;
ALTER TABLE ${db}.touches ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.0001) GRANULARITY 1;
ALTER TABLE ${db}.touches MATERIALIZE INDEX event_id_bloom;
