"""The person model: splink's comparisons written for the SQL dialect of the engine that
runs them (`rootdb.link.engines`), its training steps, the model file, what its pairs
become (an officer's decisions, the review list), and its charts.

Names are compared by pinyin and by character lists (`substr`/`length` count
characters), never by DuckDB's string distances: DuckDB 2.0.0's `levenshtein` and
`jaro_winkler` counted UTF-8 bytes, 2.0.1's count characters (PITFALLS), so their
meaning on Chinese text has changed once already. IDs (digits and X) are compared by
`levenshtein`, which counts characters on the locked DuckDB (tests/test_link.py pins it).

The model is built for a dialect, never translated: splink writes its own levels (null,
exact, date difference, levenshtein) and blocking rules for the dialect it is asked for,
and rootdb's levels are methods of a `PersonDialect`, one class per dialect. The
workspace's model file is in the DuckDB dialect whichever engine trained it;
`for_dialect` gives it to another engine with the same levels, order and parameters.

Reads and writes no workspace table: `rootdb.link.people` gives it records and stores
what it finds.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path

import duckdb
import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_rule_library import And, CustomRule
from splink.internals.exceptions import EMTrainingException

from rootdb.store import frame_to_table

# The memory of the DuckDB connections splink works in (`rootdb.link.engines.duckdb`).
SPLINK_MEMORY_LIMIT = os.environ.get("ROOTDB_SPLINK_MEMORY_LIMIT", "1500MB")
# Record pairs sampled to learn u, and for each EM rule. Training time is about in
# proportion; 2e6 learnt the same matches to four decimals of F1 on the city and on both
# unseen areas of bench/accuracy.py, 5 s slower on a city. One more than splink's default
# (1e6), at which splink warns in English that the default may be too small.
TRAINING_PAIRS = 1_000_001
UNTRAINED_PRIOR = 1e-6  # two random records one person, when no record matched by ID (`fit`)
# splink's own warnings (a level never seen while training, …) are English and for its
# programmers: not printed to a data officer's terminal (Python prints a library's
# warnings when nothing handles them).
logging.getLogger("splink").addHandler(logging.NullHandler())


class PersonDialect(ABC):
    """The SQL of rootdb's own comparison levels in one of splink's dialects. Each
    condition is NULL or false for a NULL or empty name, so that such a pair falls
    through to the next level in every dialect."""

    name: str

    @abstractmethod
    def column(self, name: str) -> str:
        """A quoted column name."""

    def sides(self, col: str) -> tuple[str, str]:
        return self.column(f"{col}_l"), self.column(f"{col}_r")

    @abstractmethod
    def one_char_off(self, col: str) -> str:
        """Same length, exactly one character different."""

    @abstractmethod
    def shares_chars(self, col: str, n: int) -> str:
        """At least `n` distinct characters in common."""

    def day_month_swapped(self, col: str) -> str:
        """The same year, day and month swapped (the same functions in both dialects)."""
        left, right = self.sides(col)
        return f"year({left}) = year({right}) AND month({left}) = day({right}) AND day({left}) = month({right})"


class DuckDBDialect(PersonDialect):
    """`length` and `substr` count characters; `string_split(x, '')` gives them as a list.
    An empty name: `range(1, 1)` is empty and its `list_sum` NULL."""

    name = "duckdb"

    def column(self, name: str) -> str:
        return f'"{name}"'

    def one_char_off(self, col: str) -> str:
        left, right = self.sides(col)
        return (f"length({left}) = length({right}) AND list_sum(list_transform(range(1, length({left}) + 1), "
                f"lambda i: (substr({left}, i, 1) <> substr({right}, i, 1))::INT)) = 1")

    def shares_chars(self, col: str, n: int) -> str:
        left, right = self.sides(col)
        return f"len(list_intersect(string_split({left}, ''), string_split({right}, ''))) >= {n}"


class SparkDialect(PersonDialect):
    """`length` and `substr` count code points as DuckDB's do; `split(x, '')` would cut a
    supplementary-plane character (生僻字 of CJK Extension B) into two UTF-16 halves, so
    character lists are built with `substr`. `sequence(1, 0)` counts down: an empty name
    is ruled out first."""

    name = "spark"

    def column(self, name: str) -> str:
        return f"`{name}`"

    def _chars(self, column: str) -> str:
        return f"transform(sequence(1, length({column})), i -> substr({column}, i, 1))"

    def one_char_off(self, col: str) -> str:
        left, right = self.sides(col)
        return (f"length({left}) = length({right}) AND length({left}) > 0 AND size(filter(sequence(1, "
                f"length({left})), i -> substr({left}, i, 1) <> substr({right}, i, 1))) = 1")

    def shares_chars(self, col: str, n: int) -> str:
        left, right = self.sides(col)
        return f"size(array_intersect({self._chars(left)}, {self._chars(right)})) >= {n}"


DIALECTS: dict[str, PersonDialect] = {d.name: d for d in (DuckDBDialect(), SparkDialect())}
SAVED_DIALECT = "duckdb"  # the dialect of the workspace's model file, whichever engine trained it

# rootdb's levels as the model file holds them.
ONE_CHAR_OFF = DIALECTS[SAVED_DIALECT].one_char_off("name")
SHARE_TWO_CHARS = DIALECTS[SAVED_DIALECT].shares_chars("name", 2)
DAY_MONTH_SWAPPED = DIALECTS[SAVED_DIALECT].day_month_swapped("birth_date")


def settings(dialect: str = SAVED_DIALECT) -> SettingsCreator:
    """The person model's settings for `dialect`: splink's levels and blocking rules are
    written for the dialect the settings are created in, rootdb's by `DIALECTS[dialect]`,
    so create them in the same one (a linker on that dialect's API does)."""
    sql = DIALECTS[dialect]
    name = cl.CustomComparison(
        output_column_name="name",
        comparison_description="姓名：相同 / 同音 / 一字之差 / 两字相同",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name", term_frequency_adjustments=True),
            cll.ExactMatchLevel("name_pinyin").configure(label_for_charts="same pinyin"),
            cll.CustomLevel(sql.one_char_off("name"), label_for_charts="one character off"),
            cll.CustomLevel(sql.shares_chars("name", 2), label_for_charts="two characters shared"),
            cll.ElseLevel(),
        ],
    )
    birth = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(sql.day_month_swapped("birth_date"), label_for_charts="day/month swapped"),
            cll.AbsoluteDateDifferenceLevel("birth_date", input_is_string=False, threshold=31, metric="day"),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="link_and_dedupe",
        unique_id_column_name="unique_id",
        source_dataset_column_name="source_dataset",
        comparisons=[
            name,
            birth,
            cl.LevenshteinAtThresholds("id_number", [2]),  # cleaned IDs: digits and X
            cl.ExactMatch("sex"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("house_key"),
        ],
        # Two registry people are never one (the registry is keyed by ID and a cluster
        # holds at most one of them): comparing them would be 60% of the work on a city.
        blocking_rules_to_generate_predictions=[
            And(rule, CustomRule("NOT (l.is_registry AND r.is_registry)"))
            for rule in (
                block_on("id_number"),
                block_on("phone"),
                block_on("house_key"),
                block_on("birth_date", "sex", "substr(name_pinyin, 1, 1)"),
                block_on("name_pinyin", "birth_date"),
            )
        ],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
    )


def fit(linker: Linker) -> bool:
    """Train on the data: u by random sampling, m from the label column (registry
    records carry their own key, deterministically matched records the registry key),
    then EM for the levels labels never show. The same steps on every engine. False when
    the data were too few to train on (a new workspace: the registry and one small feed,
    or no feed record sharing an ID with the registry): the model then serves this link
    only, with what could be learnt."""
    complete = True
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_number", "name"), block_on("id_number", "birth_date")], recall=0.7
    )
    settings_now = linker._settings_obj  # noqa: SLF001 - splink has no public setter (tests pin it)
    if not settings_now._probability_two_random_records_match > 0:  # noqa: SLF001
        # No record matched the registry by ID: nothing says how often two records are
        # one person. A prior this low links only on overwhelming agreement.
        settings_now._probability_two_random_records_match = UNTRAINED_PRIOR  # noqa: SLF001
        complete = False
    linker.training.estimate_u_using_random_sampling(max_pairs=TRAINING_PAIRS, seed=20261101)
    linker.training.estimate_m_from_label_column("label")
    for rule in (block_on("name_pinyin"), block_on("house_key")):
        # splink's EM session changes the linker's model before it trains (it drops the
        # comparisons the rule blocks on and adjusts the prior) and puts it right only
        # when training ends well: a round that fails would leave it so.
        before = settings_now.core_model_settings.copy()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, fix_u_probabilities=True, max_pairs=TRAINING_PAIRS
            )
        except (EMTrainingException, ValueError) as exc:  # no pairs; an m or u too small for float64
            if isinstance(exc, ValueError) and "below the minimum allowed" not in str(exc):
                raise
            settings_now.core_model_settings, complete = before, False
    return complete


def for_dialect(model: dict, dialect: str) -> dict:
    """A model (trained, or read from the model file) with its SQL as `settings(dialect)`
    writes it: every level's condition and the blocking rules. Its comparisons, levels,
    their order and every parameter are unchanged; its levels must be `settings()`'s
    (`model_problem` says when a saved model's are not)."""
    written = settings(dialect).get_settings(dialect).as_dict()  # as a saved model holds it
    out = copy.deepcopy(model)
    out["sql_dialect"] = dialect
    out["blocking_rules_to_generate_predictions"] = written["blocking_rules_to_generate_predictions"]
    for comparison, comparison_written in zip(out["comparisons"], written["comparisons"], strict=True):
        if comparison["output_column_name"] != comparison_written["output_column_name"]:
            raise ValueError(f"comparison {comparison['output_column_name']} is not settings()'s "
                             f"{comparison_written['output_column_name']}")
        for level, level_written in zip(comparison["comparison_levels"], comparison_written["comparison_levels"],
                                        strict=True):
            level["sql_condition"] = level_written["sql_condition"]
    return out


def decided_pairs(pairs: pl.DataFrame, decisions: pl.DataFrame | None, registry_ids: pl.Series) -> pl.DataFrame:
    """The model's pairs with the officers' decisions (`decisions`: unique_id_l,
    unique_id_r, decision) applied. Two people named in one row (a child and its
    guardian) are not one person unless the row names them alike (a dibao head is also
    listed as a member). Record ids carry (file, row) in their upper bits (records.py)."""
    same_row = pl.col("unique_id_l").cast(pl.Int64) // 16 == pl.col("unique_id_r").cast(pl.Int64) // 16
    pairs = pairs.filter(~same_row | (pl.col("name_l") == pl.col("name_r")).fill_null(False))
    if decisions is None or decisions.is_empty():
        decisions = pl.DataFrame(schema={"unique_id_l": pl.Int64, "unique_id_r": pl.Int64, "decision": pl.Boolean})
    return _apply_decisions(pairs.with_columns(pl.col("unique_id_l", "unique_id_r").cast(pl.Int64)),
                            decisions, registry_ids)


def _apply_decisions(pairs: pl.DataFrame, decisions: pl.DataFrame, registry_ids: pl.Series) -> pl.DataFrame:
    """An officer's 是 makes a pair certain (added if the model did not propose it),
    否 rules it out."""
    both_ways = pl.concat([
        decisions,
        decisions.select(pl.col("unique_id_r").alias("unique_id_l"), pl.col("unique_id_l").alias("unique_id_r"), "decision"),
    ])
    pairs = pairs.join(both_ways, on=["unique_id_l", "unique_id_r"], how="left").with_columns(
        pl.when(pl.col("decision")).then(1.0).when(~pl.col("decision")).then(0.0)
        .otherwise(pl.col("match_probability")).alias("match_probability"),
        pl.when(pl.col("decision")).then(50.0).when(~pl.col("decision")).then(-50.0)
        .otherwise(pl.col("match_weight")).alias("match_weight"),
    )
    missing = decisions.filter(pl.col("decision")).join(pairs, on=["unique_id_l", "unique_id_r"], how="anti").join(
        pairs, left_on=["unique_id_r", "unique_id_l"], right_on=["unique_id_l", "unique_id_r"], how="anti"
    )
    source = lambda col: pl.when(pl.col(col).is_in(registry_ids.implode())).then(pl.lit("registry")).otherwise(pl.lit("feed"))  # noqa: E731
    added = missing.select(
        "unique_id_l", "unique_id_r", source("unique_id_l").alias("source_dataset_l"),
        source("unique_id_r").alias("source_dataset_r"), pl.lit(1.0).alias("match_probability"),
        pl.lit(50.0).alias("match_weight"), pl.lit(True).alias("decision"),
    )
    return pl.concat([pairs, added], how="diagonal_relaxed")


# A record that may join one of two people only if it is more than this many times as
# likely to be the one as the other (a match weight is log2 of a likelihood ratio).
ATTACH_MARGIN_WEIGHT = 3.0


def split_two_ids(
    clustered: pl.DataFrame, pairs: pl.DataFrame, feed: pl.DataFrame, threshold: float
) -> tuple[pl.DataFrame, set[int]]:
    """A group of records the registry does not know that holds two valid ID numbers
    (trusted: `feed.id_number`) is two people joined through a record that says too
    little to tell them apart (a name at a house: a father and son of one name). Such
    a group is cut into the records linked without those (one part per person), and each
    record with neither ID nor birth date joins the part it is clearly closest to
    (`ATTACH_MARGIN_WEIGHT`), or stays alone for an officer to review. Returns the
    clusters and the records left alone. All such groups are cut at once: a pass over
    every group's links, not over the whole frames once per group."""
    ids = feed.select(pl.col("unique_id").cast(pl.Int64), "id_number", "birth_date")
    member = clustered.filter(pl.col("source_dataset") == "feed").join(ids, on="unique_id", how="left")
    registry_clusters = clustered.filter(pl.col("source_dataset") == "registry")["cluster_id"].implode()
    two_ids = member.filter(~pl.col("cluster_id").is_in(registry_clusters)).group_by("cluster_id").agg(
        pl.col("id_number").drop_nulls().n_unique().alias("ids")).filter(pl.col("ids") >= 2)["cluster_id"]
    if two_ids.is_empty():
        return clustered, set()
    weak = pl.col("id_number").is_null() & pl.col("birth_date").is_null()
    nodes = member.filter(pl.col("cluster_id").is_in(two_ids.implode())).select(
        "unique_id", "cluster_id", weak.alias("weak"))
    end = lambda side: nodes.rename({c: f"{c}_{side}" for c in nodes.columns})  # noqa: E731
    links = (pairs.filter(pl.col("match_probability") >= threshold)
             .select(pl.col("unique_id_l", "unique_id_r").cast(pl.Int64), "match_weight")
             .join(end("l"), on="unique_id_l").join(end("r"), on="unique_id_r")
             .filter(pl.col("cluster_id_l") == pl.col("cluster_id_r")))
    # the parts: records with an ID or a birth date, joined by the links between them
    strong = links.filter(~pl.col("weak_l") & ~pl.col("weak_r")).select("unique_id_l", "unique_id_r")
    part = _components(set(nodes.filter(~pl.col("weak"))["unique_id"]), list(strong.iter_rows()))
    roots = pl.DataFrame({"other": list(part), "root": list(part.values())},
                         schema={"other": pl.Int64, "root": pl.Int64})
    # A weak record joins the part it is most strongly linked to by a clear margin: first
    # by its own links to the parts; then once more with a link to a weak record placed
    # that way counted as a link to that record's part (a name at a house linked to the
    # same name with a phone that went to the father leans to the father). Each round
    # reads only the round before: the same cut whatever the order of the records.
    def toward(weak_other: bool) -> pl.DataFrame:  # (record, other, match_weight) from the weak end
        return pl.concat([links.filter(pl.col(f"weak_{a}") & (pl.col(f"weak_{b}") == weak_other)).select(
            pl.col(f"unique_id_{a}").alias("record"), pl.col(f"unique_id_{b}").alias("other"), "match_weight")
            for a, b in (("l", "r"), ("r", "l"))])

    to_parts = toward(False).join(roots, on="other").drop("other")
    to_weak = toward(True)
    attached = _attach(to_parts)
    attached = _attach(pl.concat([to_parts, to_weak.join(attached.rename({"unique_id": "other"}), on="other")
                                  .drop("other")]))
    cut = nodes.join(roots.rename({"other": "unique_id"}), on="unique_id", how="left").join(
        attached, on="unique_id", how="left", suffix="_weak").select(
        "unique_id", pl.coalesce("root", "root_weak", "unique_id").alias("root"), "cluster_id", "weak",
        pl.col("root_weak").is_null().alias("unplaced"))
    alone = set(cut.filter(pl.col("weak") & pl.col("unplaced"))["unique_id"])
    cut = cut.select("unique_id", pl.concat_str(pl.col("cluster_id").cast(pl.String), pl.lit("-"),
                                                pl.col("root").cast(pl.String)).alias("_cut"))
    clustered = clustered.join(cut, on="unique_id", how="left").with_columns(
        pl.coalesce("_cut", "cluster_id").alias("cluster_id")).drop("_cut")
    return clustered, alone


def _attach(candidates: pl.DataFrame) -> pl.DataFrame:
    """(unique_id, root): each record of `candidates` (record, root, match_weight) that
    has one part, or a best part by more than `ATTACH_MARGIN_WEIGHT`."""
    best = candidates.group_by("record", "root").agg(pl.col("match_weight").max())
    ranked = pl.col("match_weight").sort(descending=True)
    return best.group_by("record").agg(
        pl.col("root").sort_by("match_weight", descending=True).first(),
        (pl.len() == 1).alias("only"), (ranked.first() - ranked.slice(1, 1).first()).alias("margin"),
    ).filter(pl.col("only") | (pl.col("margin") > ATTACH_MARGIN_WEIGHT)).select(
        pl.col("record").alias("unique_id"), "root")


def _components(nodes: set[int], edges: list[tuple[int, int]]) -> dict[int, int]:
    """Each node's component, named by its smallest node."""
    root = {n: n for n in nodes}

    def find(n: int) -> int:
        while root[n] != n:
            root[n] = root[root[n]]
            n = root[n]
        return n

    for a, b in edges:
        ra, rb = find(a), find(b)
        root[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in nodes}


def clusters_and_review(
    clustered: pl.DataFrame, pairs: pl.DataFrame, threshold: float, alone: set[int] = frozenset()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(clusters: unique_id, source_dataset, cluster_id, manual, best match probability;
    review pairs: probability below `threshold` or touching a record left `alone` by
    `split_two_ids`, not yet decided) from the clustered records and the decided pairs."""
    manual = pairs.filter(pl.col("decision").fill_null(False))
    manual_ids = pl.concat([manual["unique_id_l"], manual["unique_id_r"]]).unique()
    clustered = clustered.with_columns(pl.col("unique_id").is_in(manual_ids.implode()).alias("manual"))
    unsure = (pl.col("match_probability") < threshold) | pl.col("unique_id_l").is_in(list(alone)) \
        | pl.col("unique_id_r").is_in(list(alone))
    review = pairs.filter(unsure & pl.col("decision").is_null()).select(
        "unique_id_l", "source_dataset_l", "unique_id_r", "source_dataset_r", "match_probability", "match_weight"
    )
    best = pl.concat(
        [
            pairs.select(pl.col("unique_id_l").alias("unique_id"), "match_probability"),
            pairs.select(pl.col("unique_id_r").alias("unique_id"), "match_probability"),
        ]
    ).group_by("unique_id").agg(pl.col("match_probability").max())
    return clustered.join(best, on="unique_id", how="left"), review


# What the charts join records and pairs on: rootdb's and splink's own numbers, kept
# whole (an 18-digit record id may look like an ID number; it is none).
_CHART_KEYS = ("unique_id", "unique_id_l", "unique_id_r", "cluster_id", "source_dataset", "source_dataset_l",
               "source_dataset_r")
# A record's birth date, and the pair's two.
_BIRTH_DATE_COLUMNS = ("birth_date", "birth_date_l", "birth_date_r")


def _masked(frame: pl.DataFrame) -> pl.DataFrame:
    """ID numbers and phones masked in every column that holds them (…_l / …_r too), and
    by content in every other text: a registry record's training `label` is its ID. Birth
    dates (birth_date, …_l / …_r) keep their year only (1985年): beside the masked ID the
    date would give the ID back."""
    from rootdb.privacy import mask_birth_date, mask_frame, mask_id, mask_phone

    frame = frame.with_columns(
        *[mask_id(pl.col(c)).alias(c) for c in frame.columns if c.startswith(("id_number", "label"))
          and frame[c].dtype == pl.String],
        *[mask_phone(pl.col(c)).alias(c) for c in frame.columns if c.startswith("phone") and frame[c].dtype == pl.String],
        *[mask_birth_date(pl.col(c)).alias(c) for c in frame.columns if c in _BIRTH_DATE_COLUMNS],
    )
    return mask_frame(frame, keep=[c for c in frame.columns if c in _CHART_KEYS])


CHARTS = ("match_weights.html", "m_u_parameters.html", "comparison_viewer.html", "cluster_studio.html")


def write_charts(
    linker: Linker, con: duckdb.DuckDBPyConnection, pairs: pl.DataFrame, clusters: pl.DataFrame, out: Path
) -> None:
    """splink's charts as self-contained HTML (no network needed to open them), with
    ID numbers and phones masked in the record values they show."""
    out.mkdir(parents=True, exist_ok=True)
    api = DuckDBAPI(connection=con)
    linker.visualisations.match_weights_chart().save(str(out / CHARTS[0]), inline=True)
    linker.visualisations.m_u_parameters_chart().save(str(out / CHARTS[1]), inline=True)
    # Real tables, not views: the dashboards' SQL needs rowid, and the predictions
    # under the name splink's templates use.
    records = pl.concat(
        [pl.from_arrow(con.sql(f"SELECT * FROM {t}").to_arrow_table()) for t in ("registry_records", "feed_records")],
        how="diagonal_relaxed",
    )
    chart_clusters = clusters.join(records.with_columns(pl.col("unique_id").cast(pl.Int64)), on="unique_id")
    for name, frame in (("__splink__df_predict", pairs.drop("decision")), ("chart_clusters", chart_clusters)):
        frame_to_table(con, name, _masked(frame))
    shown_pairs = api.register("__splink__df_predict")
    shown_clusters = api.register("chart_clusters")
    linker.visualisations.comparison_viewer_dashboard(shown_pairs, str(out / CHARTS[2]), overwrite=True,
                                                      num_example_rows=2)
    linker.visualisations.cluster_studio_dashboard(shown_pairs, shown_clusters, str(out / CHARTS[3]),
                                                   sampling_method="by_cluster_size", sample_size=20, overwrite=True)


def load_model(model_path: Path) -> dict | None:
    if not model_path.is_file():
        return None
    return json.loads(model_path.read_text(encoding="utf-8"))


def model_problem(model_path: Path) -> str | None:
    """Why a saved model cannot be used (a file cut short, edited by hand), in Chinese;
    None when it is fine or absent. Such a model is trained again."""
    if not model_path.is_file():
        return None
    try:
        model = json.loads(model_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"比对模型文件 {model_path.name} 已损坏（{type(exc).__name__}），本次重新训练模型"
    if not isinstance(model, dict) or not isinstance(model.get("comparisons"), list):
        return f"比对模型文件 {model_path.name} 不是 rootdb 的模型，本次重新训练模型"
    if _levels(model) != _levels(settings().create_settings_dict(SAVED_DIALECT)):
        return f"比对模型文件 {model_path.name} 的比较项与本版本 rootdb 不一致（被改动过，或来自旧版本），本次重新训练模型"
    levels = [level for c in model["comparisons"] for level in c["comparison_levels"]]
    estimated = [level.get(key) for level in levels for key in ("m_probability", "u_probability")]
    if not _is_probability(model.get("probability_two_random_records_match"), allow_none=False) or \
            not all(_is_probability(p) for p in estimated):
        return f"比对模型文件 {model_path.name} 中有不是概率的参数，本次重新训练模型"
    return None


def _levels(model: dict) -> list:
    """Each comparison's name and its levels' conditions, in order: what a saved model
    must share with `settings()` to be applied to today's records."""
    try:
        return [(c["output_column_name"], [level["sql_condition"] for level in c["comparison_levels"]])
                for c in model["comparisons"]]
    except (KeyError, TypeError):
        return []


def _is_probability(value, allow_none: bool = True) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def save_model(model: dict, model_path: Path) -> None:
    """As splink's `save_model_to_json` writes it, but atomically: to a temporary file
    beside it, renamed into place only when complete (a run killed while saving leaves
    the old model whole)."""
    model_path.parent.mkdir(parents=True, exist_ok=True)
    partial = model_path.with_name(f".{model_path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(json.dumps(model, indent=4), encoding="utf-8")
        os.replace(partial, model_path)
    finally:
        partial.unlink(missing_ok=True)
