"""A ready-to-run Python file that sends an exported prompt to an OpenAI-compatible endpoint.

The file holds the template and the decoding of the run, reads the endpoint and the key from the
environment (never from the file), and answers an input the way the run asked its target:

- classification: a short greedy reply, read as the first label it starts with (the run itself
  compared the labels' log-probabilities, which agrees whenever the model answers with a label);
- generation: a greedy reply with the task's stop strings and length; a two-round task sends the
  answer turn after the first reply, in the same conversation.
"""

from __future__ import annotations

from promptflux.export.record import PromptExport

CLASSIFY_TOKENS = 8  # reply length read for a label (labels are a word or two)


def _model_name(spec: str) -> str:
    """The model name an OpenAI-compatible server expects: `openai:<name>` gives <name>; a local spec
    is kept as a placeholder to replace with the name the user's server serves it under."""
    return spec.removeprefix("openai:")


def _header(export: PromptExport) -> str:
    def fmt(score) -> str:
        if score is None:
            return "not scored"
        low, high = score.ci95
        return f"{score.accuracy:.3f} [95% CI {low:.3f}, {high:.3f}] on {score.split} (n={score.n})"

    run = export.run
    return (
        f'"""The prompt promptflux exported from run {run["id"]} ({run["method"]} on {run["task"]}), '
        f"rank {export.rank}{' (the chosen prompt)' if export.chosen else ''}.\n\n"
        f"Validation: {fmt(export.val)}\nTest: {fmt(export.test)}\n"
        f"Run config digest: {run['config_digest']}\n\n"
        f"The run optimised this prompt for the target {export.target['spec']!r}; serve that model behind "
        "an OpenAI-compatible\nendpoint (vLLM, llama.cpp server, Ollama, or the API the run used) and set "
        "OPENAI_BASE_URL,\nPROMPTFLUX_MODEL (the name the server knows it by) and the API key variable. "
        "Needs `pip install openai`.\n\n"
        "    python openai_client.py 'your input'\n"
        '"""\n'
    )


def openai_snippet(export: PromptExport) -> str:
    """The content of openai_client.py for `export`."""
    task = export.task
    key_env = export.target.get("api_key_env") or "OPENAI_API_KEY"
    base_url = export.target.get("base_url")
    url = f"os.environ.get('OPENAI_BASE_URL', {base_url!r})" if base_url else "os.environ['OPENAI_BASE_URL']"
    lines = [
        _header(export),
        "import os",
        "import sys",
        "",
        "from openai import OpenAI",
        "",
        f"INSTRUCTION = {export.instruction!r}",
        "# The target's input exactly as the run rendered it; {input} is the only field.",
        *(
            [f"# It holds the {len(export.demos)} demonstrations the run chose with the instruction."]
            if export.demos
            else []
        ),
        f"TEMPLATE = {export.template!r}",
        f"CHAT = {export.chat!r}  # True: one user turn through the chat template; False: raw text",
        f"MODEL = os.environ.get('PROMPTFLUX_MODEL', {_model_name(export.target['spec'])!r})",
    ]
    if task.get("kind") == "classification":
        lines += [
            f"LABELS = {task['labels']!r}",
            f"MAX_TOKENS = {CLASSIFY_TOKENS}",
            "STOP = None",
            "ANSWER_TURN = None",
        ]
    else:
        lines += [
            f"MAX_TOKENS = {task.get('max_new_tokens', 64)!r}",
            f"STOP = {task.get('stop') or None!r}",
            f"ANSWER_TURN = {task.get('answer_turn')!r}  # a second turn asking for the final answer",
            f"FIRST_MAX_TOKENS = {task.get('first_round_max_new_tokens', 256)!r}",
        ]
    lines += [
        "",
        f"client = OpenAI(base_url={url}, api_key=os.environ.get({key_env!r}, 'not-needed-locally'))",
        "",
        "",
        "def render(text: str) -> str:",
        "    return TEMPLATE.format(input=text)",
        "",
        "",
        "def ask(messages: list[dict], max_tokens: int, stop) -> str:",
        "    if CHAT:",
        "        reply = client.chat.completions.create(",
        "            model=MODEL, messages=messages, temperature=0, max_tokens=max_tokens, stop=stop",
        "        )",
        "        return reply.choices[0].message.content or ''",
        "    prompt = '\\n\\n'.join(m['content'] for m in messages)",
        "    reply = client.completions.create(",
        "        model=MODEL, prompt=prompt, temperature=0, max_tokens=max_tokens, stop=stop",
        "    )",
        "    return reply.choices[0].text",
        "",
        "",
    ]
    if task.get("kind") == "classification":
        lines += [
            "def answer(text: str) -> str | None:",
            '    """The label the model answers with (None when its reply names no label)."""',
            "    reply = ask([{'role': 'user', 'content': render(text)}], MAX_TOKENS, STOP).strip().lower()",
            "    for label in sorted(LABELS, key=len, reverse=True):",
            "        if reply.startswith(label.lower()):",
            "            return label",
            "    found = [(reply.find(label.lower()), label) for label in LABELS if label.lower() in reply]",
            "    return min(found)[1] if found else None",
        ]
    else:
        lines += [
            "def answer(text: str) -> str:",
            '    """The model\'s answer, decoded as the run decoded it."""',
            "    messages = [{'role': 'user', 'content': render(text)}]",
            "    if ANSWER_TURN is None:",
            "        return ask(messages, MAX_TOKENS, STOP).strip()",
            "    first = ask(messages, FIRST_MAX_TOKENS, None).strip()",
            "    turns = [{'role': 'assistant', 'content': first}, {'role': 'user', 'content': ANSWER_TURN}]",
            "    return ask(messages + turns, MAX_TOKENS, STOP).strip()",
        ]
    lines += [
        "",
        "",
        "if __name__ == '__main__':",
        "    print(answer(' '.join(sys.argv[1:]) or sys.stdin.read()))",
        "",
    ]
    return "\n".join(lines)
