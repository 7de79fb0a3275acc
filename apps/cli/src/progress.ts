const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Shows that something is running, on stderr: a spinner with `label` on a terminal
 * (erased when done), one dot per second otherwise (ended with a newline).
 * Returns the function that stops it (once; later calls do nothing).
 */
export function startProgress(out: NodeJS.WritableStream & { isTTY?: boolean }, label: string): () => void {
  const tty = out.isTTY === true;
  let frame = 0;
  let dots = 0;
  const tick = () => {
    if (tty) out.write(`\r${FRAMES[frame++ % FRAMES.length]} ${label}`);
    else {
      out.write('.');
      dots++;
    }
  };
  if (tty) tick();
  const timer = setInterval(tick, tty ? 80 : 1000);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    if (tty) out.write(`\r${' '.repeat(label.length + 2)}\r`);
    else if (dots > 0) out.write('\n');
  };
}
