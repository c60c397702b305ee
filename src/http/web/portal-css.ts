/**
 * The one stylesheet of every web page (sign-in, approval, researcher and operator pages), served as
 * /assets/portal.css so that the Content-Security-Policy needs no `unsafe-inline` (an injected
 * `<style>` or `style=` attribute is then inert). Mobile first: one column, the navigation wraps; from
 * 48rem the navigation sits beside the content. Colours keep WCAG 2.1 AA contrast (4.5:1 for text) and
 * every focusable element has a visible focus ring (WCAG 2.4.7).
 */
export const PORTAL_CSS = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;background:#f6f7f9;line-height:1.5}
a{color:#0b57d0}a:hover{text-decoration:none}
:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem 1rem;z-index:10}.skip:focus{left:.5rem}
.site-header{background:#1b2a41;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem}
.site-header a{color:#fff}
.brand{font-weight:700;font-size:1.15rem;text-decoration:none;margin-right:auto}
.who{font-size:.95rem}
.who form{display:inline;margin:0 0 0 .5rem}
.site-header button{background:transparent;color:#fff;border:1px solid #c7d2e3;padding:.2rem .7rem;font-size:.9rem}
.layout{max-width:72rem;margin:0 auto;padding:0 1rem}
nav.portal-nav{margin:.8rem 0}
nav.portal-nav h2{font-size:.8rem;text-transform:uppercase;letter-spacing:.05em;color:#4a5563;margin:.8rem 0 .2rem}
nav.portal-nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.3rem}
nav.portal-nav a{display:block;padding:.35rem .7rem;border-radius:.3rem;text-decoration:none;color:#1b2a41;background:#e4e8ef}
nav.portal-nav a[aria-current=page]{background:#1b2a41;color:#fff}
main{background:#fff;border:1px solid #d9dee7;border-radius:.4rem;padding:1rem 1.2rem;margin:.8rem 0;min-width:0}
main.narrow{max-width:36rem;margin:2rem auto}
footer.site-footer{color:#4a5563;font-size:.85rem;padding:1rem;text-align:center}
h1{font-size:1.45rem;margin:.2rem 0 .8rem}h2{font-size:1.15rem;margin:1.4rem 0 .5rem}
form{margin:.8rem 0}label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input[type=text],input[type=password],input[type=search],input[type=file],select,textarea{width:100%;padding:.45rem;font-size:1rem;border:1px solid #6b7585;border-radius:.25rem;background:#fff;color:#1b1f24}
textarea{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem;min-height:6rem}
button,a.button{display:inline-block;padding:.5rem 1rem;font-size:1rem;margin:.2rem .5rem .2rem 0;cursor:pointer;border-radius:.25rem;border:1px solid #0b57d0;background:#0b57d0;color:#fff;text-decoration:none;line-height:1.3}
button.secondary,a.button.secondary{background:#fff;color:#0b57d0}
button.danger{background:#a40000;border-color:#a40000;color:#fff}
form.inline{display:inline;margin:0}
.code{font-family:ui-monospace,monospace;font-size:1.6rem;letter-spacing:.15rem;background:#eef0f3;padding:.3rem .6rem;border-radius:.3rem}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.88rem}
pre{background:#eef0f3;padding:.6rem .8rem;border-radius:.3rem;overflow-x:auto;white-space:pre;max-width:100%}
pre.wrap{white-space:pre-wrap;word-break:break-all}
.note{color:#4a5563;font-size:.92rem}
.error{color:#8a0000;background:#fdecea;padding:.6rem;border-radius:.3rem}
.ok{color:#0a5c2c;background:#e6f4ea;padding:.6rem;border-radius:.3rem}
.denied,.warn{color:#6b3a00;background:#fff3e0;border:1px solid #e0a458;padding:.6rem;border-radius:.3rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dl.facts dt{font-weight:600}dl.facts dd{margin:0;min-width:0;overflow-wrap:anywhere}
dt{font-weight:600}dd{margin:0 0 .5rem 0}
.or{margin:1.5rem 0;color:#4a5563}
.table-wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #d9dee7;vertical-align:top}
th{background:#eef0f3}
td.mono{font-family:ui-monospace,monospace;font-size:.82rem;overflow-wrap:anywhere}
.status-valid{color:#0a5c2c;font-weight:600}.status-revoked{color:#8a0000;font-weight:600}.status-expired{color:#4a5563}
.cards{display:grid;grid-template-columns:1fr;gap:.8rem}
.card{border:1px solid #d9dee7;border-radius:.4rem;padding:.8rem 1rem;background:#fff}
.card h2,.card h3{margin-top:0}
.copy-row{display:flex;gap:.4rem;align-items:flex-start}.copy-row pre{flex:1;margin:0}
.copy{font-size:.85rem;padding:.3rem .6rem}
.hidden{display:none}
.qr svg{width:14rem;height:14rem;background:#fff}
@media (min-width:48rem){
  .with-nav{display:grid;grid-template-columns:14rem 1fr;gap:1rem;align-items:start}
  nav.portal-nav ul{flex-direction:column}
  .cards{grid-template-columns:1fr 1fr}
}
@media print{nav.portal-nav,.site-header form,footer.site-footer{display:none}}
`;
