-- The schema of monitor's first release (schema version 1), as SQLite created it, with a
-- little data: tests/store/test_migrations.py upgrades it and checks nothing is lost.
CREATE TABLE meta (
	"key" VARCHAR NOT NULL, 
	value VARCHAR NOT NULL, 
	PRIMARY KEY ("key")
);
CREATE TABLE feed (
	id VARCHAR NOT NULL, 
	url VARCHAR NOT NULL, 
	config_url VARCHAR NOT NULL, 
	title VARCHAR, 
	active BOOLEAN NOT NULL, 
	conditional BOOLEAN NOT NULL, 
	min_interval INTEGER NOT NULL, 
	max_interval INTEGER NOT NULL, 
	etag VARCHAR, 
	last_modified VARCHAR, 
	body_hash VARCHAR, 
	last_polled DATETIME, 
	last_success DATETIME, 
	next_poll DATETIME, 
	error_count INTEGER NOT NULL, 
	last_error TEXT, 
	items_per_week FLOAT NOT NULL, 
	gone BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_feed_next_poll ON feed (next_poll);
CREATE TABLE item (
	id INTEGER NOT NULL, 
	feed_id VARCHAR NOT NULL, 
	guid VARCHAR NOT NULL, 
	url VARCHAR, 
	title TEXT NOT NULL, 
	summary TEXT NOT NULL, 
	content TEXT NOT NULL, 
	author VARCHAR NOT NULL, 
	lang VARCHAR NOT NULL, 
	published DATETIME, 
	fetched DATETIME NOT NULL, 
	fingerprint VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_item_feed_guid UNIQUE (feed_id, guid), 
	FOREIGN KEY(feed_id) REFERENCES feed (id)
);
CREATE INDEX ix_item_fetched ON item (fetched);
CREATE INDEX ix_item_feed_fingerprint ON item (feed_id, fingerprint);
CREATE TABLE hit (
	id INTEGER NOT NULL, 
	item_id INTEGER NOT NULL, 
	rule_id VARCHAR NOT NULL, 
	rule_version VARCHAR NOT NULL, 
	priority VARCHAR NOT NULL, 
	matches TEXT NOT NULL, 
	created DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_hit_item_rule UNIQUE (item_id, rule_id), 
	FOREIGN KEY(item_id) REFERENCES item (id)
);
CREATE INDEX ix_hit_item_id ON hit (item_id);
CREATE INDEX ix_hit_created ON hit (created);
CREATE INDEX ix_hit_rule_id ON hit (rule_id);
CREATE TABLE delivery (
	id INTEGER NOT NULL, 
	target VARCHAR NOT NULL, 
	hit_id INTEGER NOT NULL, 
	status VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	message_id VARCHAR NOT NULL, 
	reserved_at DATETIME, 
	next_attempt DATETIME, 
	sent_at DATETIME, 
	last_error TEXT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_delivery_target_hit UNIQUE (target, hit_id), 
	FOREIGN KEY(hit_id) REFERENCES hit (id)
);
CREATE INDEX ix_delivery_target_status ON delivery (target, status);
CREATE INDEX ix_delivery_message_id ON delivery (message_id);

INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO feed VALUES ('trend', 'https://en.trend.az/feeds/index.rss', 'https://en.trend.az/feeds/index.rss', 'Trend', 1, 1, 900, 86400, '"abc"', NULL, NULL, '2025-12-01 06:00:00.000000', '2025-12-01 06:00:00.000000', '2025-12-01 07:00:00.000000', 0, NULL, 12.0, 0);
INSERT INTO item VALUES (1, 'trend', 'trend-1', 'https://en.trend.az/1', 'OTS heads of diaspora agencies meet in Budapest', 'The seventh meeting gathered the member states.', '', '', 'en', '2025-12-01 05:00:00.000000', '2025-12-01 06:00:00.000000', 'f1');
INSERT INTO hit VALUES (1, 1, 'ots-diaspora', 'v1', 'high', '[["diaspora", "title", 20, 28]]', '2025-12-01 06:00:00.000000');
INSERT INTO delivery VALUES (1, 'daily:file', 1, 'sent', 1, '<m1@monitor>', '2025-12-01 07:00:00.000000', NULL, '2025-12-01 07:00:01.000000', NULL);
