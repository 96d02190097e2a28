DROP INDEX deadlines_follow_up_queue;
DROP TABLE follow_up_calls;
