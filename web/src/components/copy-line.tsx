// A command on one line with a button that copies it (clipboard API when the page may use it,
// a selection otherwise: plain-HTTP origins other than localhost get no clipboard API).
import { useRef, useState } from 'react';

export function CopyLine({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  const code = useRef<HTMLElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      const range = document.createRange();
      if (code.current) range.selectNodeContents(code.current);
      window.getSelection()?.removeAllRanges();
      window.getSelection()?.addRange(range);
    }
  };
  return (
    <div className="copy-line">
      <code ref={code} data-testid="copy-line">
        {text}
      </code>
      <button type="button" onClick={() => void copy()}>
        {copied ? 'copied' : 'copy'}
      </button>
    </div>
  );
}
