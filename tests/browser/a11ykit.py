"""What axe-core cannot judge, checked on every audited page: visible labels, errors tied to their fields, an error
summary whose links land on a field, and inline Korean on a non-Korean page marked with lang="ko"."""

from __future__ import annotations

import os
from pathlib import Path

from browserkit import WCAG_TAGS, Auditor

PAGE_CHECKS = r"""() => {
  const problems = [];
  const shown = el => {
    const box = el.getBoundingClientRect();
    return box.width > 1 && box.height > 1 && getComputedStyle(el).visibility !== 'hidden' &&
      !el.closest('.visually-hidden');
  };
  const snippet = el => el.outerHTML.replace(/\s+/g, ' ').slice(0, 140);
  const controls = 'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea';
  // Every control a person fills in has a label they can see.
  for (const el of document.querySelectorAll(controls)) {
    if (el.getAttribute('aria-hidden') === 'true' || !shown(el)) continue;
    if (![...(el.labels || [])].some(shown)) problems.push(`no visible label: ${snippet(el)}`);
  }
  // A field shown with an error is marked invalid and points at its message.
  for (const box of document.querySelectorAll('.field-error')) {
    const message = box.querySelector('.error[id]');
    if (!message) { problems.push(`field error without a message id: ${snippet(box)}`); continue; }
    const describes = el => (el.getAttribute('aria-describedby') || '').split(/\s+/).includes(message.id);
    if (box.tagName === 'FIELDSET' && !describes(box)) problems.push(`group not described by its error: ${message.id}`);
    for (const el of box.querySelectorAll(controls)) {
      if (el.getAttribute('aria-invalid') !== 'true') problems.push(`invalid field not marked: ${snippet(el)}`);
      if (box.tagName !== 'FIELDSET' && !describes(el)) {
        problems.push(`field not described by its error: ${snippet(el)}`);
      }
    }
  }
  // The error summary's links land on a field that takes focus.
  for (const link of document.querySelectorAll('#error-summary a')) {
    const target = document.getElementById((link.getAttribute('href') || '').replace(/^#/, ''));
    if (!target) problems.push(`error summary link to nothing: ${snippet(link)}`);
    else if (!target.matches(controls)) problems.push(`error summary link does not land on a field: ${snippet(link)}`);
  }
  // Korean inside a page in another language is marked, so a screen reader switches voice.
  const hangul = /[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!hangul.test(node.textContent) || parent.closest('script, style')) continue;
    const lang = (parent.closest('[lang]') || document.documentElement).getAttribute('lang') || '';
    if (!lang.startsWith('ko')) {
      problems.push(`Korean text not marked lang="ko": ${node.textContent.trim().slice(0, 60)}`);
    }
  }
  return problems;
}"""


class PageAuditor(Auditor):
    """axe-core plus the page checks above; with A11Y_AUDIT_LOG set, every audited page is listed in that file."""

    def check(self, page, label: str) -> None:
        result = self.axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
        self.pages.append(label)
        if result.violations_count:
            self.problems.append(f"{label} ({page.url}):\n{result.generate_report()}")
        problems = page.evaluate(PAGE_CHECKS)
        if problems:
            self.problems.append(f"{label} ({page.url}):\n  " + "\n  ".join(problems))
        log = os.environ.get("A11Y_AUDIT_LOG")
        if log:
            found = sum(len(rule["nodes"]) for rule in result.response["violations"]) + len(problems)
            with Path(log).open("a", encoding="utf-8") as out:
                out.write(f"{label}\t{found}\n")
