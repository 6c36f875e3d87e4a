// Product pictures drawn for this shop: one small SVG per product, built from a few shapes so the whole
// gallery costs a few kilobytes. Inline SVG needs no namespace declaration and no extra request.

const SHAPES = {
  // Watson: a thinking terminal with a glowing brain.
  Watson: `<rect x="40" y="60" width="120" height="90" rx="12" fill="#1d4e89"/>
    <rect x="54" y="74" width="92" height="52" rx="6" fill="#0b1f38"/>
    <path d="M78 100c0-14 14-20 22-12 8-8 22-2 22 12s-14 18-22 10c-8 8-22 4-22-10z" fill="#7fd1ff"/>
    <rect x="80" y="150" width="40" height="14" fill="#1d4e89"/><rect x="60" y="164" width="80" height="8" rx="4" fill="#12355e"/>`,
  // Ewooid: a round companion with big friendly eyes.
  Ewooid: `<circle cx="100" cy="110" r="56" fill="#f2b134"/><circle cx="80" cy="100" r="14" fill="#fff"/>
    <circle cx="120" cy="100" r="14" fill="#fff"/><circle cx="82" cy="102" r="6" fill="#222"/>
    <circle cx="122" cy="102" r="6" fill="#222"/><path d="M84 130q16 12 32 0" stroke="#7a4b00" stroke-width="5" fill="none"/>
    <line x1="100" y1="54" x2="100" y2="34" stroke="#7a4b00" stroke-width="4"/><circle cx="100" cy="30" r="7" fill="#e63946"/>`,
  // HPTD: a travel droid with a shield and rocket boots.
  HPTD: `<rect x="70" y="40" width="60" height="44" rx="10" fill="#6c757d"/><rect x="80" y="54" width="40" height="12" rx="6" fill="#00e5ff"/>
    <rect x="60" y="86" width="80" height="70" rx="8" fill="#495057"/><path d="M140 92l30 8v30q0 20-30 28z" fill="#2a9d8f"/>
    <rect x="70" y="156" width="20" height="22" fill="#343a40"/><rect x="110" y="156" width="20" height="22" fill="#343a40"/>
    <path d="M72 178l8 14 8-14zM112 178l8 14 8-14z" fill="#f77f00"/>`,
  // UHJ: a tracked harvester with a front rake.
  UHJ: `<rect x="40" y="70" width="110" height="60" rx="6" fill="#588157"/><rect x="60" y="44" width="50" height="30" rx="4" fill="#3a5a40"/>
    <rect x="68" y="50" width="34" height="14" fill="#a3b18a"/><rect x="34" y="130" width="122" height="30" rx="15" fill="#343a40"/>
    <circle cx="52" cy="145" r="9" fill="#adb5bd"/><circle cx="95" cy="145" r="9" fill="#adb5bd"/><circle cx="138" cy="145" r="9" fill="#adb5bd"/>
    <path d="M150 90h22v60M160 150v12M170 150v12M180 150v12" stroke="#dda15e" stroke-width="5" fill="none"/>`,
  // EPE: a probe with a plug-in arm.
  EPE: `<ellipse cx="100" cy="100" rx="50" ry="34" fill="#9d4edd"/><circle cx="100" cy="96" r="16" fill="#240046"/>
    <circle cx="100" cy="96" r="7" fill="#ff006e"/><path d="M150 100h24v-12h10v24h-10v-12" stroke="#3c096c" stroke-width="5" fill="#c77dff"/>
    <path d="M70 132l-14 30M130 132l14 30M100 134v34" stroke="#3c096c" stroke-width="6"/>`,
  // EMM: a medical droid with a red cross and soft eyes.
  EMM: `<rect x="56" y="36" width="88" height="56" rx="28" fill="#f8f9fa" stroke="#adb5bd" stroke-width="3"/>
    <path d="M80 62h10M110 62h10" stroke="#1b4965" stroke-width="6" stroke-linecap="round"/>
    <rect x="50" y="96" width="100" height="80" rx="14" fill="#e9ecef" stroke="#adb5bd" stroke-width="3"/>
    <path d="M92 112h16v16h16v16h-16v16h-16v-16h-16v-16h16z" fill="#d62828"/>
    <path d="M50 120l-24 30M150 120l24 30" stroke="#adb5bd" stroke-width="8" stroke-linecap="round"/>`,
  // SHCE: a diplomat in a bow tie.
  SHCE: `<rect x="64" y="30" width="72" height="60" rx="8" fill="#b8c0ff"/><circle cx="86" cy="58" r="8" fill="#22223b"/>
    <circle cx="114" cy="58" r="8" fill="#22223b"/><rect x="86" y="74" width="28" height="4" fill="#22223b"/>
    <path d="M56 96h88l-10 80h-68z" fill="#22223b"/><path d="M100 104l-18-10v20zM100 104l18-10v20z" fill="#e63946"/>
    <circle cx="100" cy="104" r="4" fill="#e63946"/>`,
  // RED: an enforcer with a visor and a siren light.
  RED: `<rect x="66" y="44" width="68" height="50" rx="6" fill="#343a40"/><rect x="70" y="58" width="60" height="14" fill="#e63946"/>
    <rect x="90" y="28" width="20" height="16" rx="4" fill="#4361ee"/><rect x="54" y="96" width="92" height="64" rx="6" fill="#495057"/>
    <path d="M100 104l20 8v16q0 14-20 22-20-8-20-22v-16z" fill="#ffd60a"/>
    <rect x="66" y="160" width="24" height="24" fill="#212529"/><rect x="110" y="160" width="24" height="24" fill="#212529"/>`,
  // RMC: a mining cyborg with a drill and head lamp.
  RMC: `<rect x="60" y="50" width="60" height="44" rx="8" fill="#bc6c25"/><circle cx="90" cy="48" r="10" fill="#ffd60a"/>
    <rect x="74" y="66" width="32" height="10" fill="#283618"/><rect x="52" y="96" width="80" height="62" rx="8" fill="#99582a"/>
    <path d="M132 116h20l28 12-28 12h-20z" fill="#adb5bd"/><path d="M160 120l6 8-6 8" stroke="#495057" stroke-width="3" fill="none"/>
    <rect x="58" y="158" width="68" height="20" rx="10" fill="#432818"/>`,
  // STAN-1: Stan, the observability guru with a magnifying glass.
  "STAN-1": `<rect x="62" y="40" width="76" height="62" rx="14" fill="#2ec4b6"/><circle cx="86" cy="70" r="10" fill="#fff"/>
    <circle cx="114" cy="70" r="10" fill="#fff"/><circle cx="86" cy="70" r="4" fill="#011627"/><circle cx="114" cy="70" r="4" fill="#011627"/>
    <rect x="70" y="104" width="60" height="56" rx="8" fill="#011627"/><path d="M78 140l12-14 10 8 16-20" stroke="#2ec4b6" stroke-width="4" fill="none"/>
    <circle cx="156" cy="122" r="16" fill="none" stroke="#ff9f1c" stroke-width="6"/><path d="M144 134l-14 14" stroke="#ff9f1c" stroke-width="6"/>`,
  // CNA: a small air-freshening android with a fan.
  CNA: `<rect x="70" y="60" width="60" height="90" rx="30" fill="#90e0ef"/><circle cx="100" cy="92" r="20" fill="#0077b6"/>
    <path d="M100 92l0-16M100 92l14 8M100 92l-14 8" stroke="#caf0f8" stroke-width="6" stroke-linecap="round"/>
    <circle cx="88" cy="128" r="4" fill="#023e8a"/><circle cx="112" cy="128" r="4" fill="#023e8a"/>
    <path d="M140 70q14-8 20 4t20 2M144 90q14-8 20 4t20 2" stroke="#48cae4" stroke-width="4" fill="none"/>`,
};

// Any product without its own picture: a plain robot outline.
const PLACEHOLDER = `<rect x="66" y="44" width="68" height="52" rx="10" fill="none" stroke="#6c757d" stroke-width="5"/>
  <rect x="56" y="100" width="88" height="66" rx="10" fill="none" stroke="#6c757d" stroke-width="5"/>
  <text x="100" y="142" font-size="32" text-anchor="middle" fill="#6c757d" font-family="sans-serif">?</text>`;

// A decorative picture (next to the product's name) is hidden from screen readers; otherwise it is labelled.
export function productArt(sku, name, decorative = false) {
  const svg = document.createElement("div");
  svg.className = "art";
  const label = String(name || sku).replace(/[<>&"]/g, "");
  const role = decorative ? 'aria-hidden="true"' : `role="img" aria-label="Picture of ${label}"`;
  svg.innerHTML = `<svg viewBox="0 0 200 200" ${role} focusable="false">
    <rect width="200" height="200" rx="16" fill="#f1f3f5"/>${SHAPES[sku] || PLACEHOLDER}</svg>`;
  return svg;
}

export const skusWithArt = Object.keys(SHAPES);
