"""What `PromptBooster.refine` returns (GitHub issue 9, item 5).

The released boosters' template (`official`) gives the generated text `.strip()`ped and nothing more,
as the released `inference_chat.py` does; the other templates are cleaned and, when generation stops
at `max_new_tokens`, end at a complete sentence. The real-model tests use SmolLM2-135M-Instruct and
the tiny random Llama from the offline assets, and only `PromptBooster` methods that existed before
this change (`refine`, `_inputs`, `_generate`), so they also run, and fail, against the old code.
"""
import re
import warnings

import pytest

from prompt_a_video.booster import BoosterPreset, PromptBooster, clean_refined

END = re.compile(r"""[.!?]["'”’)\]]*$""")


@pytest.fixture(scope="module")
def smol():
    return PromptBooster.load("smollm2", device="cpu")           # paper template, prefill, greedy


def with_preset(b, **kw):
    "Another booster on the same weights (no second load)."
    return PromptBooster(b.model, b.tok, BoosterPreset(**{**b.preset.__dict__, **kw}), name=b.name)


def generated(b, prompt, n=1, temperature=0.0, seed=0, max_new_tokens=40):
    "The decoded new tokens of one generate call, as refine's own generation makes them."
    return b._generate(b._inputs([prompt]), n, temperature, seed, max_new_tokens)[0]


@pytest.mark.parametrize("prompt,temperature,penalty,seed,n,max_new_tokens", [
    ("three tips for filming a corgi", 0.0, 1.15, 0, 1, 40),   # greedy: quotes, then a label on a new line
    ("a corgi running on a beach", 1.0, 1.0, 1, 2, 30),        # the released sampling, two samples
])
def test_official_refine_is_the_generated_text_stripped(smol, prompt, temperature, penalty, seed, n, max_new_tokens):
    official = with_preset(smol, template="official", prefill=False, repetition_penalty=penalty, top_k=50, top_p=1.0)
    raws = generated(official, prompt, n, temperature, seed, max_new_tokens)
    # the case is meaningful: cleaning would change at least one of these texts
    assert any(clean_refined(r) != r.strip() for r in raws), raws
    got = official.refine(prompt, n=n, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)[0]
    assert got == [r.strip() for r in raws]


def test_official_output_keeps_labels_markdown_and_paragraphs():
    from prompt_a_video.booster import finish_refined
    raw = "\n New prompt: **A corgi** sprints across wet sand at sunset.\n\nSecond paragraph: the camera\n"
    for truncated in (False, True):
        assert finish_refined(raw, "official", truncated) == raw.strip()
    assert finish_refined(raw, "paper") == "A corgi sprints across wet sand at sunset."


def test_official_empty_output_is_kept_with_a_warning():
    from prompt_a_video.assets import tiny_lm_dir
    b = PromptBooster.from_pretrained(str(tiny_lm_dir()), template="official", device="cpu")
    b.model.generation_config.forced_eos_token_id = b.tok.eos_token_id    # one new token: end-of-sequence
    assert generated(b, "a red cat", max_new_tokens=1) == [""]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert b.refine("a red cat", max_new_tokens=1) == [[""]]
    assert any("is empty; the official template keeps it" in str(x.message) for x in w), [str(x.message) for x in w]
    paper = with_preset(b, template="paper")                          # cleaned templates still fall back
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert paper.refine("a red cat", max_new_tokens=1) == [["a red cat"]]


@pytest.mark.parametrize("prefill,max_new_tokens", [(True, 20), (True, 30), (False, 30)])
def test_paper_cut_off_output_ends_with_a_complete_sentence(smol, prefill, max_new_tokens):
    b = with_preset(smol, prefill=prefill)
    prompt = "a corgi running on a beach"
    [raw] = generated(b, prompt, max_new_tokens=max_new_tokens)
    assert not END.search(raw.strip()), raw                          # the generation itself stopped mid-sentence
    got = b.refine(prompt, max_new_tokens=max_new_tokens)[0][0]
    assert END.search(got), got
    full = clean_refined(prompt + ", " + raw.lstrip(" ,") if prefill else raw)
    assert full.startswith(got[:-1]) and len(got.split()) >= 6, (got, full)


def test_cut_off_is_read_from_the_tokens(smol):
    from prompt_a_video.booster import finish_refined
    official = with_preset(smol, template="official", prefill=False)
    texts = official._inputs(["a cup of coffee steaming on a wooden table"])
    [(text, cut)] = official._generate_ends(texts, 1, 0.0, 0, 60)[0]
    assert not cut and text.strip().endswith(".")                     # the model ended it
    [(short, cut)] = official._generate_ends(texts, 1, 0.0, 0, 4)[0]
    assert cut and text.startswith(short)
    # ended by the model: a cleaned template keeps even an unfinished-looking end
    assert finish_refined("A corgi on a beach, at dawn", "paper", truncated=False) == "A corgi on a beach, at dawn"
    assert finish_refined("A corgi on a beach, at dawn", "paper", truncated=True) == "A corgi on a beach."


def test_fit_budget_never_leaves_half_a_sentence_when_a_whole_one_fits():
    from prompt_a_video.budget import fit_budget
    words = lambda ts: [len(t.split()) for t in ts]
    assert fit_budget('A sign reads "Open." A cat naps on the mat.', words, 5) == 'A sign reads "Open."'
    assert fit_budget("One two three. Four five six. Seven eight.", words, 6) == "One two three. Four five six."
    assert fit_budget("one two three four five six seven", words, 4) == "one two three four"
    assert fit_budget("A red kite, high over a green hill, swoops down", words, 9) == "A red kite, high over a green hill."


def test_rewrite_baseline_cut_off_reply_ends_at_a_sentence():
    from prompt_a_video.booster import ChatRewriteBooster
    from prompt_a_video.llm import ChatReply
    text = "A tabby cat naps on a sunlit windowsill. Soft light falls across its fur as the"
    replies = {"length": ChatReply(text, finish_reason="length"), "stop": ChatReply(text, finish_reason="stop")}
    got = {k: ChatRewriteBooster(lambda msgs, r=r, **kw: r).refine(["a cat sleeping"])[0][0] for k, r in replies.items()}
    assert got == {"length": "A tabby cat naps on a sunlit windowsill.", "stop": text}
