/** Keyboard-only helpers for the e2e tests: move focus with Tab as a user would, and audit labels. */
import type { Page } from 'playwright-core';

/**
 * Presses Tab (or Shift+Tab) until the focused element has the given data-testid or accessible text;
 * throws if it is never reached, which is exactly the failure a keyboard user would hit.
 */
export async function tabTo(page: Page, target: { testId?: string; text?: string }, opts: { back?: boolean; max?: number } = {}): Promise<number> {
  for (let i = 1; i <= (opts.max ?? 60); i++) {
    await page.keyboard.press(opts.back ? 'Shift+Tab' : 'Tab');
    const hit = await page.evaluate(({ testId, text }) => {
      const el = document.activeElement as HTMLElement | null;
      if (!el) return false;
      if (testId) return el.dataset.testid === testId;
      return (el.textContent ?? '').trim() === text || el.getAttribute('aria-label') === text;
    }, target);
    if (hit) return i;
  }
  throw new Error(`Tab never reached ${JSON.stringify(target)}`);
}

/** Whether the focused element draws a visible focus indicator (outline or box-shadow). */
export function focusIsVisible(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return false;
    const s = getComputedStyle(el);
    return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
  });
}

/** Form controls and buttons on the page that have no accessible name. */
export function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const bad: string[] = [];
    for (const el of Array.from(document.querySelectorAll<HTMLElement>('input, select, textarea, button'))) {
      const labelled =
        (el as HTMLInputElement).labels?.length ||
        el.getAttribute('aria-label') ||
        el.getAttribute('aria-labelledby') ||
        (el.tagName === 'BUTTON' && (el.textContent ?? '').trim());
      if (!labelled) bad.push(el.outerHTML.slice(0, 120));
    }
    return bad;
  });
}
