/*
 * Only the main window's own page may call the services: not a subframe, not
 * a page it was navigated to (navigation is blocked too; this is the second
 * lock), not another window.
 */

/** The parts of Electron's WebFrameMain the check reads. */
export interface FrameLike {
  readonly url: string;
  readonly parent: FrameLike | null;
  readonly processId: number;
  /** unique per frame and document, so a frame that navigated no longer matches the stale one */
  readonly frameToken: string;
  readonly detached?: boolean;
}

export function isTrustedSender(
  sender: FrameLike | null | undefined,
  mainFrame: FrameLike | null | undefined,
  rendererUrl: string,
): boolean {
  if (!sender || !mainFrame || sender.detached || sender.parent !== null) return false;
  if (!isSameFrame(sender, mainFrame)) return false;
  return isRendererUrl(sender.url, rendererUrl);
}

function isSameFrame(a: FrameLike, b: FrameLike): boolean {
  return a === b || (a.processId === b.processId && a.frameToken === b.frameToken);
}

/** Same file, whatever the query or hash (the renderer may route with either). */
export function isRendererUrl(candidate: string, rendererUrl: string): boolean {
  let actual: URL;
  let expected: URL;
  try {
    actual = new URL(candidate);
    expected = new URL(rendererUrl);
  } catch {
    return false;
  }
  return (
    actual.protocol === expected.protocol &&
    actual.host === expected.host &&
    actual.pathname === expected.pathname &&
    actual.username === '' &&
    actual.password === ''
  );
}
