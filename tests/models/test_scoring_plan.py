from promptflux.models.scoring import ScoreUnit, chunk_by_length, plan_prefix_groups


def unit(i, ids, start=None):
    ids = tuple(ids)
    start = len(ids) if start is None else start
    return ScoreUnit(i, ids, ((0, start, (99,)),))


def test_units_sharing_an_instruction_form_one_group_with_its_prefix():
    instr = list(range(100, 120))  # 20 shared tokens
    units = [unit(i, [*instr, 1, i, 2, 3]) for i in range(5)]
    groups = plan_prefix_groups(units, min_prefix=8)
    assert len(groups) == 1
    assert groups[0].prefix_len == 21  # the instruction plus the shared first token of the input
    assert sorted(u.request for u in groups[0].units) == list(range(5))


def test_prefix_never_swallows_a_read_position_or_the_whole_sequence():
    instr = list(range(100, 120))
    units = [unit(0, instr, start=12), unit(1, [*instr, 5])]
    (group,) = plan_prefix_groups(units, min_prefix=8, min_group=2)
    assert group.prefix_len == 11  # logits at position 11 (start-1) must come from the suffix pass
    assert all(len(u.ids) - group.prefix_len >= 1 for u in group.units)


def test_units_without_a_long_shared_prefix_are_pooled_into_one_uncached_batch():
    units = [unit(i, [i, 7, 8, 9, 10]) for i in range(6)]
    groups = plan_prefix_groups(units, min_prefix=8)
    assert [(g.prefix_len, len(g.units)) for g in groups] == [(0, 6)]


def test_two_prompts_give_two_groups():
    a, b = list(range(100, 112)), list(range(200, 212))
    units = [unit(i, [*a, i]) for i in range(3)] + [unit(10 + i, [*b, i]) for i in range(3)]
    groups = plan_prefix_groups(units, min_prefix=8, min_group=3)
    assert sorted((g.prefix_len, len(g.units)) for g in groups) == [(12, 3), (12, 3)]


def test_groups_smaller_than_min_group_join_the_uncached_pool():
    a = list(range(100, 112))
    units = [unit(i, [*a, i]) for i in range(3)] + [unit(10 + i, [i, 5, 6]) for i in range(2)]
    groups = plan_prefix_groups(units, min_prefix=8, min_group=4)
    assert [(g.prefix_len, len(g.units)) for g in groups] == [(0, 5)]


def test_chunks_are_bounded_in_rows_tokens_and_padding():
    units = [unit(i, [1] * n) for i, n in enumerate([10] * 6 + [11, 30, 31])]
    chunks = chunk_by_length(units, prefix_len=0, max_rows=4, max_tokens=1000, max_padding=0.15)
    widths = [[len(u.ids) for u in c] for c in chunks]
    assert widths == [[10, 10, 10, 10], [10, 10, 11], [30, 31]]  # the long tail is not padded into the rest
    assert sum(map(len, chunks)) == len(units)
    small = chunk_by_length(units, prefix_len=0, max_rows=64, max_tokens=40, max_padding=1.0)
    assert all(len(c) * max(len(u.ids) for u in c) <= 40 for c in small)
