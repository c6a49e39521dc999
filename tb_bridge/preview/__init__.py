"""Static HTML previews of the bundled dashboards, drawn with plotly from ThingsBoard data (REST), and a
headless-Chromium screenshot, for users without a ThingsBoard UI."""
