-- Shared report tables, built once per `rootdb report` / `rootdb query` run as TEMP tables
-- over the golden records (see rootdb/golden) for one as-of date and area.
-- Parameters: $as_of (DATE), $community and $grid (text, NULL = the whole area).
-- Statements end with a semicolon at the end of a line.

-- r_houses: the houses of the standard address registry in the area; short_address is the
-- standard address without the province … community prefix (幸福小区3号楼2单元501室).
CREATE OR REPLACE TEMP TABLE r_houses AS
SELECT h.entity_id AS house_id, h.registry_key AS address_code, h.community, h.grid, h.compound, h.building,
       h.unit, h.room, h.standard_address AS address,
       regexp_replace(h.standard_address, '^.*?(社区|村|嘎查)', '') AS short_address,
       h.usage, h.owner_entity_id AS owner_id
FROM golden_houses h
WHERE h.registry_key IS NOT NULL AND h.grid IS NOT NULL
  AND (CAST($community AS VARCHAR) IS NULL OR h.community = $community)
  AND (CAST($grid AS VARCHAR) IS NULL OR h.grid = $grid);

-- r_grids: every grid of the area, zero rows too; sort_key orders them as the registry does.
CREATE OR REPLACE TEMP TABLE r_grids AS
SELECT community, grid, min(address_code) AS sort_key FROM r_houses GROUP BY community, grid;

-- or_unmatched(value): the 社区 / 网格 a report shows. A person, house or place whose
-- address the standard address registry lacks has no community and grid: rosters list
-- them with the marker 地址未匹配 (the engine counts them in a note), per-grid statistics
-- count them in a last row of that name (r_stat_grids). Only a whole-area run has them:
-- a run for one community or grid holds only its own standard addresses.
CREATE OR REPLACE TEMP MACRO or_unmatched(value) AS coalesce(value, '地址未匹配');

-- r_stat_grids: the rows of a per-grid statistic: every grid of the area, then (whole
-- area only) the row 地址未匹配, whose sort_key is NULL (ORDER BY sort_key NULLS LAST).
-- Join people on or_unmatched(p.community) / or_unmatched(p.grid), and keep the last row
-- only when it counts someone: HAVING g.sort_key IS NOT NULL OR count(…) > 0.
CREATE OR REPLACE TEMP TABLE r_stat_grids AS
SELECT community, grid, sort_key FROM r_grids
UNION ALL
SELECT '地址未匹配', '地址未匹配', NULL
WHERE CAST($community AS VARCHAR) IS NULL AND CAST($grid AS VARCHAR) IS NULL;

-- r_feed_persons: which person each record of a feed names, per role (current deliveries).
CREATE OR REPLACE TEMP TABLE r_feed_persons AS
SELECT r.feed, r.role, r.file_id, r.source_row, m.entity_id AS person_id
FROM link_person_records r JOIN link_person_matches m USING (record_id);

-- r_feed_houses / r_feed_places: the same for houses and places.
CREATE OR REPLACE TEMP TABLE r_feed_houses AS
SELECT r.feed, r.role, r.file_id, r.source_row, m.entity_id AS house_id
FROM link_house_records r JOIN link_house_matches m USING (record_id);

CREATE OR REPLACE TEMP TABLE r_feed_places AS
SELECT r.feed, r.role, r.file_id, r.source_row, m.entity_id AS place_id
FROM link_place_records r JOIN link_place_matches m USING (record_id);

-- _r_newborns: the newborns of the 出生医学证明 (chusheng), with the mother's (else the
-- father's) name of their latest record, to name a child not yet named.
CREATE OR REPLACE TEMP TABLE _r_newborns AS
SELECT fp.person_id,
       arg_min(coalesce(b.mother_name, b.father_name), [-b.file_id, b.source_row])
           FILTER (WHERE coalesce(b.mother_name, b.father_name) IS NOT NULL) AS parent_name
FROM r_feed_persons fp JOIN chusheng b ON b.file_id = fp.file_id AND b.source_row = fp.source_row
WHERE fp.feed = 'chusheng' AND fp.role = 'newborn'
GROUP BY fp.person_id;

-- _r_people: golden persons born by the as-of date, with age (full years), whether they
-- are alive and resident then, and their house's place in the area (grid_sort orders
-- grids as r_grids.sort_key does; address and short_address also for a house the
-- standard address registry lacks, which has no grid). display_name is the name every
-- list shows: the name, else for a newborn not yet named the way hospitals write it, by
-- its mother (else father): 王芳之女（未取名）, else （未取名） or （姓名不详）. With
-- --community or --grid only people whose house is in that part of the area.
CREATE OR REPLACE TEMP TABLE _r_people AS
SELECT p.entity_id AS person_id, p.name,
       coalesce(p.name,
                nb.parent_name || CASE p.sex WHEN '女' THEN '之女' WHEN '男' THEN '之子' ELSE '的孩子' END
                    || '（未取名）',
                CASE WHEN nb.person_id IS NOT NULL THEN '（未取名）' ELSE '（姓名不详）' END) AS display_name,
       p.id_number, p.sex, p.ethnicity, p.birth_date,
       CASE WHEN p.birth_date IS NOT NULL THEN
           year($as_of::DATE) - year(p.birth_date)
           - CASE WHEN strftime($as_of::DATE, '%m%d') < strftime(p.birth_date, '%m%d') THEN 1 ELSE 0 END
       END AS age,
       p.phone, p.house_entity_id AS house_id, h.community, h.grid, h.compound, h.building, h.unit, h.room,
       coalesce(h.address, gh.standard_address) AS address,
       coalesce(h.short_address, regexp_replace(gh.standard_address, '^.*?(社区|村|嘎查)', '')) AS short_address,
       g.sort_key AS grid_sort, p.registered_house_entity_id AS registered_house_id, p.household_no, p.relation_to_head,
       p.person_type, p.status, p.death_date, p.in_registry, p.registry_key, p.feeds,
       p.status = '死亡' AND (p.death_date IS NULL OR p.death_date <= $as_of::DATE) AS dead
FROM golden_persons p LEFT JOIN r_houses h ON h.house_id = p.house_entity_id
LEFT JOIN golden_houses gh ON gh.entity_id = p.house_entity_id  -- a house the address registry lacks
LEFT JOIN r_grids g ON g.community = h.community AND g.grid = h.grid
LEFT JOIN _r_newborns nb ON nb.person_id = p.entity_id
WHERE (p.birth_date IS NULL OR p.birth_date <= $as_of::DATE)
  AND ((CAST($community AS VARCHAR) IS NULL AND CAST($grid AS VARCHAR) IS NULL) OR h.house_id IS NOT NULL);

-- r_person_tags: the community's roster tags (标签 of community_residents), one row each.
CREATE OR REPLACE TEMP TABLE r_person_tags AS
SELECT DISTINCT fp.person_id, trim(t.tag) AS tag
FROM community_residents c
JOIN r_feed_persons fp ON fp.file_id = c.file_id AND fp.source_row = c.source_row AND fp.role = 'person',
     unnest(regexp_split_to_array(c.tags, '[;；,，、]')) AS t(tag)
WHERE c.tags IS NOT NULL AND trim(t.tag) <> '';

-- _r_groups: special groups a person belongs to at the as-of date. Which feed makes whom
-- part of which group, and while when, is in the feeds' schemas (subject, active, group
-- in schemas/*.yaml); the report engine puts their current rows in _r_group_rows.
CREATE OR REPLACE TEMP TABLE _r_groups AS
SELECT DISTINCT fp.person_id, g.grp FROM _r_group_rows g
JOIN r_feed_persons fp ON fp.feed = g.feed AND fp.file_id = g.file_id AND fp.source_row = g.source_row
                      AND fp.role = g.role;

-- _r_person_groups: per person, the sorted list of their special groups.
CREATE OR REPLACE TEMP TABLE _r_person_groups AS
SELECT person_id, list_sort(list(DISTINCT grp)) AS groups FROM _r_groups GROUP BY person_id;

-- _r_house_ages: per house (in the standard address registry or not), how many living
-- people live there (not moved out) and how many of them are under 60.
CREATE OR REPLACE TEMP TABLE _r_house_ages AS
SELECT house_id, count(*) AS residents, count(*) FILTER (WHERE age < 60 OR age IS NULL) AS under_60
FROM _r_people WHERE NOT dead AND status IS DISTINCT FROM '迁出' AND house_id IS NOT NULL
GROUP BY house_id;

-- r_persons: one row per person, with
--   living    not dead at the as-of date (registry or 殡葬)
--   resident  living, not moved out (迁出), and living in a standard-address house of the area
--   unplaced  living, not moved out, and living at an address the standard address registry
--             lacks: in no grid; rosters list them and statistics count them under 地址未匹配
--   resident_or_unplaced   living, not moved out, with a known house: whom rosters and
--             statistics of the people living in the area take
--   elderly_alone / empty_nest   living, not moved out, 60+, alone / only with people 60+
--   groups    the special groups the feeds' schemas declare (低保 在保, 特困, 高龄津贴 正常发放,
--             残疾, 优抚, 慢病, 家庭医生签约, 医保参保 参保缴费, …), plus the flags below for
--             the common ones.
CREATE OR REPLACE TEMP TABLE r_persons AS
SELECT p.*,
       NOT p.dead AS living,
       NOT p.dead AND p.status IS DISTINCT FROM '迁出' AND p.grid IS NOT NULL AS resident,
       NOT p.dead AND p.status IS DISTINCT FROM '迁出' AND p.grid IS NULL AND p.address IS NOT NULL AS unplaced,
       NOT p.dead AND p.status IS DISTINCT FROM '迁出' AND (p.grid IS NOT NULL OR p.address IS NOT NULL)
           AS resident_or_unplaced,
       NOT p.dead AND p.status IS DISTINCT FROM '迁出' AND p.house_id IS NOT NULL AND p.age >= 60
           AND ha.residents = 1 AS elderly_alone,
       NOT p.dead AND p.status IS DISTINCT FROM '迁出' AND p.house_id IS NOT NULL AND p.age >= 60
           AND ha.residents > 1 AND ha.under_60 = 0 AS empty_nest,
       coalesce(g.groups, []) AS groups,
       list_contains(coalesce(g.groups, []), '低保') AS in_dibao,
       list_contains(coalesce(g.groups, []), '特困') AS in_tekun,
       list_contains(coalesce(g.groups, []), '高龄津贴') AS in_gaoling,
       list_contains(coalesce(g.groups, []), '残疾') AS in_canji,
       list_contains(coalesce(g.groups, []), '优抚') AS in_tuiyi,
       list_contains(coalesce(g.groups, []), '慢病') AS in_manbing,
       list_contains(coalesce(g.groups, []), '家庭医生签约') AS signed_doctor,
       list_contains(coalesce(g.groups, []), '医保参保') AS insured
FROM _r_people p
LEFT JOIN _r_house_ages ha ON ha.house_id = p.house_id
LEFT JOIN _r_person_groups g USING (person_id)
ORDER BY p.person_id;

-- r_special_visits: the people living in the area (resident_or_unplaced) who belong to a
-- special group as R35 counts them, one row each (R39, R40 and nightly's 走访超期):
--   special_groups  高龄 (80+)、独居/空巢、残疾、低保、特困、优抚, in that order
--   last_visit      the date of their latest zoufang visit by the as-of date: a visit
--                   naming them, or any visit to the house they live in (the contract's
--                   "to them or to their house": whoever the form names), delivered or recorded on
--                   the page (_r_page_visits, rootdb serve); NULL = never visited
--   visited_90d     last_visit less than 90 days before the as-of date
CREATE OR REPLACE TEMP TABLE r_special_visits AS
WITH all_visits AS (
    SELECT * FROM golden_visits UNION ALL BY NAME SELECT * FROM _r_page_visits
), special AS (
    SELECT person_id, house_id,
           list_filter([CASE WHEN age >= 80 THEN '高龄' END,
                        CASE WHEN elderly_alone OR empty_nest THEN '独居/空巢' END,
                        CASE WHEN in_canji THEN '残疾' END, CASE WHEN in_dibao THEN '低保' END,
                        CASE WHEN in_tekun THEN '特困' END, CASE WHEN in_tuiyi THEN '优抚' END],
                       lambda x: x IS NOT NULL) AS groups
    FROM r_persons WHERE resident_or_unplaced
), visits AS (
    SELECT s.person_id, v.visit_date FROM special s JOIN all_visits v ON v.person_entity_id = s.person_id
    WHERE v.visit_date <= $as_of::DATE
    UNION ALL
    SELECT s.person_id, v.visit_date FROM special s JOIN all_visits v ON v.house_entity_id = s.house_id
    WHERE v.visit_date <= $as_of::DATE
)
SELECT s.person_id, array_to_string(s.groups, '、') AS special_groups, max(v.visit_date) AS last_visit,
       coalesce(max(v.visit_date) > $as_of::DATE - 90, false) AS visited_90d
FROM special s LEFT JOIN visits v USING (person_id)
WHERE len(s.groups) > 0
GROUP BY s.person_id, s.groups
ORDER BY s.person_id;

-- The platform's export says how an event stands today: on an earlier as-of date, an
-- event closed after it was still open then. closed_by(status, closed_at, as_of): 已办结
-- by the as-of date (R37); open_on(status, closed_at, as_of): neither 已退回 nor 已办结 by
-- then; days_overdue(status, closed_at, deadline, as_of): open, and its deadline (上报时间 +
-- 办理时限) fell on a day before the as-of date: as-of date − the deadline's date (NULL:
-- not overdue); rootdb card reads it too.
CREATE OR REPLACE TEMP MACRO closed_by(status, closed_at, as_of) AS
status = '已办结' AND (closed_at IS NULL OR closed_at::DATE <= as_of::DATE);

CREATE OR REPLACE TEMP MACRO open_on(status, closed_at, as_of) AS
coalesce(status, '') <> '已退回' AND NOT coalesce(closed_by(status, closed_at, as_of), false);

CREATE OR REPLACE TEMP MACRO days_overdue(status, closed_at, deadline, as_of) AS
CASE WHEN open_on(status, closed_at, as_of) AND deadline::DATE < as_of::DATE
     THEN as_of::DATE - deadline::DATE END;

-- r_open_events: the grid platform's events (shijian) of the area reported by the as-of
-- date and open on it, overdue first, with days_overdue, the person concerned (name, ID
-- and phone from the golden records; person_in_area: one of r_persons, i.e. living in
-- the area read) and where: the house's short address, the place's name, else the
-- address as the platform wrote it (R38's count note, the page's 事件).
CREATE OR REPLACE TEMP TABLE r_open_events AS
SELECT e.event_no, e.reported_at, e.deadline, days_overdue(e.status, e.closed_at, e.deadline, $as_of) AS days_overdue,
       e.category, e.subcategory, e.description, e.source, e.status, e.closed_at,
       e.handling_dept, e.time_limit_days, e.community, e.grid, e.person_entity_id AS person_id,
       p.person_id IS NOT NULL AS person_in_area, coalesce(p.display_name, gp.name) AS person_name,
       coalesce(p.id_number, gp.id_number) AS person_id_number, coalesce(p.phone, gp.phone) AS person_phone,
       coalesce(h.short_address, pl.name, e.incident_address) AS location
FROM golden_events e
LEFT JOIN r_persons p ON p.person_id = e.person_entity_id
LEFT JOIN golden_persons gp ON gp.entity_id = e.person_entity_id  -- one living outside a part of the area
LEFT JOIN r_houses h ON h.house_id = e.house_entity_id
LEFT JOIN golden_places pl ON pl.entity_id = e.place_entity_id
WHERE open_on(e.status, e.closed_at, $as_of) AND e.reported_at::DATE <= $as_of::DATE
  AND (CAST($community AS VARCHAR) IS NULL OR e.community = $community)
  AND (CAST($grid AS VARCHAR) IS NULL OR e.grid = $grid)
ORDER BY days_overdue DESC NULLS LAST, e.reported_at DESC, e.event_no;

-- r_overdue_events: those past their deadline, most overdue first (R38 and nightly's
-- 事件超期); status of one closed after the as-of date says when: 已办结（2026-10-30）.
CREATE OR REPLACE TEMP TABLE r_overdue_events AS
SELECT * EXCLUDE (status),
       CASE WHEN status = '已办结' THEN '已办结（' || strftime(closed_at, '%Y-%m-%d') || '）' ELSE status END AS status
FROM r_open_events WHERE days_overdue IS NOT NULL
ORDER BY days_overdue DESC, event_no;

-- relation_order(relation): where a member goes in a household list, in the order of the
-- family relation codes of GB/T 4761: 户主, 配偶, 子女 (then their spouses), 孙辈, 父母,
-- 祖父母, 兄弟姐妹, others. Members of one rank are listed oldest first.
CREATE OR REPLACE TEMP MACRO relation_order(relation) AS
CASE
    WHEN trim(relation) IN ('户主', '本人') THEN 1
    WHEN trim(relation) IN ('配偶', '夫', '妻', '丈夫', '妻子') THEN 2
    WHEN trim(relation) IN ('子', '女', '儿子', '女儿', '独生子', '独生女', '长子', '次子', '三子', '四子', '五子',
                            '长女', '次女', '三女', '四女', '五女', '养子', '养女', '继子', '继女', '养子或继子',
                            '养女或继女', '其他儿子', '其他女儿') THEN 3
    WHEN trim(relation) IN ('儿媳', '女婿') THEN 4
    WHEN trim(relation) IN ('孙子', '孙女', '外孙', '外孙子', '外孙女', '孙媳妇', '孙女婿', '外孙媳妇', '外孙女婿',
                            '曾孙子', '曾孙女', '曾外孙子', '曾外孙女') THEN 5
    WHEN trim(relation) IN ('父亲', '母亲', '父', '母', '公公', '婆婆', '岳父', '岳母', '继父', '继母', '养父',
                            '养母', '继父或养父', '继母或养母') THEN 6
    WHEN trim(relation) IN ('祖父', '祖母', '外祖父', '外祖母') THEN 7
    WHEN trim(relation) IN ('兄', '弟', '姐', '妹', '哥哥', '弟弟', '姐姐', '妹妹', '兄弟', '姐妹') THEN 8
    ELSE 9
END;

-- _r_chronic_patients: living chronic patients (慢性病患者健康管理档案) who live (not moved
-- out) in a known house (resident_or_unplaced), one row each: red when a record of theirs
-- says 管理等级 三级 or 疾病类型 严重精神障碍; doctor = the 责任医生 of their latest record.
CREATE OR REPLACE TEMP TABLE _r_chronic_patients AS
SELECT p.person_id, p.house_id,
       bool_or(m.management_level = '三级' OR coalesce(m.diseases, '') LIKE '%严重精神障碍%') AS red,
       arg_max(m.responsible_doctor, m.file_id * 10000000 + m.source_row)
           FILTER (WHERE m.responsible_doctor IS NOT NULL) AS doctor
FROM manbing m
JOIN r_feed_persons fp ON fp.file_id = m.file_id AND fp.source_row = m.source_row AND fp.role = 'person'
JOIN r_persons p ON p.person_id = fp.person_id
WHERE p.resident_or_unplaced
GROUP BY p.person_id, p.house_id;

-- _r_house_patients: per house, its chronic patients and how many of them are red.
CREATE OR REPLACE TEMP TABLE _r_house_patients AS
SELECT house_id, count(*) AS patients, count(*) FILTER (WHERE red) AS red_patients
FROM _r_chronic_patients GROUP BY house_id;

-- chronic_colour(residents, patients, red_patients): a household's colour: 红 a patient with
-- 管理等级 三级 or 严重精神障碍 lives there, 黄 another patient, 蓝 none; NULL for a house
-- nobody lives in (an empty flat).
CREATE OR REPLACE TEMP MACRO chronic_colour(residents, patients, red_patients) AS
CASE WHEN coalesce(residents, 0) = 0 THEN NULL
     WHEN red_patients > 0 THEN '红' WHEN patients > 0 THEN '黄' ELSE '蓝' END;

-- room_floor(digits) / room_position(digits): where a room is in its building, from the
-- digits of its number: 501 → floor 5, place 1 on the floor; 1203 → floor 12, place 3; a
-- room of one or two digits (a 平房 row), or none, is on floor 1, placed by its number; a
-- number of more than five digits is no room number (floor 1, placed first).
CREATE OR REPLACE TEMP MACRO room_floor(digits) AS
CASE WHEN length(digits) BETWEEN 3 AND 5 THEN CAST(left(digits, length(digits) - 2) AS INTEGER) ELSE 1 END;

CREATE OR REPLACE TEMP MACRO room_position(digits) AS
CASE WHEN length(digits) BETWEEN 3 AND 5 THEN CAST(right(digits, 2) AS INTEGER)
     WHEN length(digits) > 5 THEN 0 ELSE try_cast(digits AS INTEGER) END;

-- r_house_colours: every residential (住宅) house of the standard address registry in the
-- area, with its floor and its place on the floor (room_floor, room_position), how many
-- living people live there (residents), how many of them are chronic patients, and its
-- colour (chronic_colour; NULL for an empty flat). building_label is 3号楼, or 建设路12号
-- for a street house.
CREATE OR REPLACE TEMP TABLE r_house_colours AS
WITH houses AS (
    SELECT h.*, regexp_extract(coalesce(h.room, ''), '(\d+)', 1) AS room_digits
    FROM r_houses h WHERE h.usage = '住宅'
)
SELECT h.house_id, h.address_code, h.community, h.grid, h.compound, h.building,
       CASE WHEN h.building IS NULL THEN NULL
            WHEN h.unit IS NULL AND h.room IS NULL THEN h.building || '号'
            ELSE h.building || '号楼' END AS building_label,
       h.unit, h.room, room_floor(h.room_digits) AS floor, room_position(h.room_digits) AS position,
       coalesce(a.residents, 0) AS residents, coalesce(c.patients, 0) AS patients,
       chronic_colour(a.residents, c.patients, c.red_patients) AS colour
FROM houses h
LEFT JOIN _r_house_ages a ON a.house_id = h.house_id
LEFT JOIN _r_house_patients c ON c.house_id = h.house_id;

-- r_unplaced_house_colours: the houses at addresses the standard address registry lacks
-- where living people live (whole area only; R41 counts them in its row 地址未匹配), with
-- residents, patients and colour as r_house_colours has them, and
--   community  the community of the area the address names (NULL: none of the area's,
--              e.g. an address in another city)
--   compound, building, unit, room, floor, position   when the address names a room the
--              registry lacks in one of its residential buildings — the same community,
--              compound (as written, or as the area's vocabulary reads it: link_house_unresolved's
--              cid) and building; an address without community: the only community
--              of the area with that compound and building — else NULL. The floor plan
--              draws such a house dashed in that building's plan.
CREATE OR REPLACE TEMP TABLE r_unplaced_house_colours AS
WITH unplaced AS (
    SELECT h.house_id, a.residents, coalesce(c.patients, 0) AS patients,
           chronic_colour(a.residents, c.patients, c.red_patients) AS colour,
           gh.community, gh.compound, gh.building, gh.unit, gh.room,
           regexp_extract(coalesce(gh.room, ''), '(\d+)', 1) AS room_digits
    FROM (SELECT DISTINCT house_id FROM r_persons WHERE unplaced) h
    JOIN _r_house_ages a ON a.house_id = h.house_id
    JOIN golden_houses gh ON gh.entity_id = h.house_id
    LEFT JOIN _r_house_patients c ON c.house_id = h.house_id
), written_cid AS (  -- the registry compound the area's vocabulary reads the address as, when one
    SELECT m.entity_id AS house_id, any_value(x.cid) AS cid
    FROM link_house_matches m JOIN link_house_unresolved x USING (record_id)
    WHERE x.cid IS NOT NULL GROUP BY m.entity_id HAVING count(DISTINCT x.cid) = 1
), buildings AS (
    SELECT DISTINCT r.community, r.compound, r.building, k.cid
    FROM r_house_colours r LEFT JOIN link_house_compounds k USING (address_code)
    WHERE r.building IS NOT NULL
), named AS (  -- the registry buildings an address names: its compound as written, or as read
    SELECT u.house_id, b.community, b.compound, b.building
    FROM unplaced u JOIN buildings b ON b.compound = u.compound AND b.building = u.building
    UNION
    SELECT u.house_id, b.community, b.compound, b.building
    FROM unplaced u JOIN written_cid w USING (house_id) JOIN buildings b ON b.cid = w.cid AND b.building = u.building
), placed AS (  -- the registry building an address names, when it names one building only
    SELECT u.house_id, any_value(n.community) AS community, any_value(n.compound) AS compound
    FROM unplaced u JOIN named n USING (house_id)
    WHERE u.room IS NOT NULL AND (u.community IS NULL OR n.community = u.community)
      AND NOT EXISTS (SELECT 1 FROM r_house_colours r  -- a room the registry has is no room to add
                      WHERE r.community = n.community AND r.compound = n.compound AND r.building = n.building
                        AND r.unit IS NOT DISTINCT FROM u.unit AND r.room = u.room)
    GROUP BY u.house_id HAVING count(*) = 1
)
SELECT u.house_id, u.residents, u.patients, u.colour,
       coalesce(p.community, g.community) AS community,
       p.compound,  -- the registry's name of it
       CASE WHEN p.house_id IS NOT NULL THEN u.building END AS building,
       CASE WHEN p.house_id IS NOT NULL THEN u.unit END AS unit,
       CASE WHEN p.house_id IS NOT NULL THEN u.room END AS room,
       CASE WHEN p.house_id IS NOT NULL THEN room_floor(u.room_digits) END AS floor,
       CASE WHEN p.house_id IS NOT NULL THEN room_position(u.room_digits) END AS position
FROM unplaced u
LEFT JOIN placed p ON p.house_id = u.house_id
LEFT JOIN (SELECT DISTINCT community FROM r_grids) g ON g.community = u.community;

-- r_building_colours: per residential building (compound + building of the registry; a
-- street house is a building of its own): its grid (that of its first house by 地址编码),
-- households (houses with living residents), 红 / 黄 / 蓝 households, empty flats, chronic
-- patients, the 责任医生 most of its patients have (on a tie, the first by name), and
-- unplaced: the houses of r_unplaced_house_colours placed in it (drawn dashed, counted
-- in none of its other columns). Whole area only, one more row with community, grid,
-- compound and building NULL: all of r_unplaced_house_colours (or_unmatched shows it as
-- 地址未匹配; its empty flats are unknown, NULL).
CREATE OR REPLACE TEMP TABLE r_building_colours AS
WITH houses AS (
    SELECT house_id, address_code, community, grid, compound, building, building_label, patients, colour
    FROM r_house_colours
    UNION ALL
    SELECT house_id, NULL, NULL, NULL, NULL, NULL, NULL, patients, colour FROM r_unplaced_house_colours
), doctors AS (
    SELECT h.community, h.compound, h.building, c.doctor, count(*) AS n
    FROM _r_chronic_patients c JOIN houses h ON h.house_id = c.house_id
    WHERE c.doctor IS NOT NULL
    GROUP BY ALL
), building_doctors AS (
    SELECT community, compound, building, first(doctor ORDER BY n DESC, doctor) AS doctor
    FROM doctors GROUP BY ALL
), placed AS (
    SELECT community, compound, building, count(*) AS unplaced
    FROM r_unplaced_house_colours WHERE building IS NOT NULL GROUP BY ALL
)
SELECT h.community, arg_min(h.grid, h.address_code) AS grid, h.compound, h.building,
       any_value(h.building_label) AS building_label, min(h.address_code) AS sort_key,
       count(*) FILTER (WHERE h.colour IS NOT NULL) AS households,
       count(*) FILTER (WHERE h.colour = '红') AS red,
       count(*) FILTER (WHERE h.colour = '黄') AS yellow,
       count(*) FILTER (WHERE h.colour = '蓝') AS blue,
       CASE WHEN h.community IS NOT NULL THEN count(*) FILTER (WHERE h.colour IS NULL) END AS empty,
       sum(h.patients)::BIGINT AS patients, any_value(d.doctor) AS doctor,
       coalesce(any_value(p.unplaced), 0) AS unplaced
FROM houses h
LEFT JOIN building_doctors d ON d.community IS NOT DISTINCT FROM h.community
                            AND d.compound IS NOT DISTINCT FROM h.compound
                            AND d.building IS NOT DISTINCT FROM h.building
LEFT JOIN placed p ON p.community = h.community AND p.compound IS NOT DISTINCT FROM h.compound
                  AND p.building IS NOT DISTINCT FROM h.building
GROUP BY h.community, h.compound, h.building;
